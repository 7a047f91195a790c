"""Key drivers: Johnson's relative weights of the drivers of an outcome, with bootstrap
intervals (REFERENCE.md, "Key drivers"; Johnson 2000, Multivariate Behavioral Research 35).

Pure arithmetic on a respondents x variables matrix (NaN where a respondent gave no answer),
the outcome in its last column. The correlations are computed from sufficient statistics
(counts, sums, sums of squares and of products over the rows where both variables are
answered), so that

- `pairwise` deletion uses, for each pair of variables, every respondent who answered both;
  `listwise` first drops respondents who left any variable unanswered;
- the bootstrap resamples respondents through those statistics: the rows are dealt at random
  into at most `BLOCKS` blocks, the statistics summed per block, and each resample weighs the
  blocks by multinomial counts (a block of one row is exactly the row bootstrap; with more
  rows than blocks, a resample of blocks of random rows has the variance of a resample of
  rows, since a total is the sum of its blocks' independent sums). 200 resamples of a million
  respondents cost one matrix product.

Johnson: R = V L Vᵀ (the drivers' correlations), Λ = V √L Vᵀ, β = Λ⁻¹ r (r: the drivers'
correlations with the outcome), weight_j = Σ_k Λ_jk² β_k². The weights sum to R² of the
regression of the outcome on the drivers; each is signed like the driver's coefficient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Missing = Literal["pairwise", "listwise"]
Array = npt.NDArray[np.float64]

RESAMPLES = 200
SEED = 20_000  # Johnson (2000): the same seed, the same intervals
BLOCKS = 500
EIGEN_FLOOR = 1e-9  # a pairwise correlation matrix may be indefinite: eigenvalues below, floored
COVERAGE = 0.5  # a driver answered by fewer of the outcome's respondents is left out
COLLINEAR = 1e-4  # drivers whose correlations have a smaller eigenvalue: one is redundant


@dataclass(frozen=True)
class Moments:
    """Per pair of variables (j, k), over the rows where both are answered: the count, the
    sum of j, the sum of j², the sum of j·k. Arrays of shape (..., m, m), so that a stack of
    them (blocks, resamples) is summed or weighed in one product."""

    n: Array
    s: Array  # s[j, k]: sum of variable j over the rows with j and k
    q: Array  # q[j, k]: sum of j squared over those rows
    p: Array  # p[j, k]: sum of j * k

    def flat(self) -> Array:
        m = self.n.shape[-1]
        return np.concatenate([a.reshape(*a.shape[:-2], m * m)
                               for a in (self.n, self.s, self.q, self.p)], axis=-1)

    @classmethod
    def unflat(cls, values: Array, m: int) -> Moments:
        parts = np.split(values, 4, axis=-1)
        shaped = [part.reshape(*part.shape[:-1], m, m) for part in parts]
        return cls(*shaped)


def moments(matrix: Array) -> Moments:
    """The sufficient statistics of the rows of `matrix` (NaN: not answered)."""
    answered = (~np.isnan(matrix)).astype(np.float64)
    values = np.nan_to_num(matrix, nan=0.0)
    return Moments(answered.T @ answered, values.T @ answered, (values**2).T @ answered,
                   values.T @ values)


def correlations(m: Moments) -> tuple[Array, Array]:
    """Pairwise correlation matrices (..., m, m) and the pair counts; NaN where a pair has
    fewer than two rows or a variable does not vary within it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        n = m.n
        st = np.swapaxes(m.s, -1, -2)
        qt = np.swapaxes(m.q, -1, -2)
        cov = m.p - m.s * st / n
        var_j = m.q - m.s**2 / n
        var_k = qt - st**2 / n
        r = cov / np.sqrt(var_j * var_k)
    r = np.where((n >= 2) & (var_j > 1e-12) & (var_k > 1e-12), r, np.nan)
    eye = np.eye(r.shape[-1], dtype=bool)
    r = np.where(eye & ~np.isnan(r), 1.0, r)
    return np.clip(r, -1.0, 1.0), n


def _positive(r: Array) -> Array:
    """The nearest correlation matrix with eigenvalues at least EIGEN_FLOOR (a pairwise
    matrix may have small negative ones): floored, then scaled back to a unit diagonal."""
    values, vectors = np.linalg.eigh(r)
    floored = np.maximum(values, EIGEN_FLOOR)
    fixed = (vectors * floored[..., None, :]) @ np.swapaxes(vectors, -1, -2)
    d = np.sqrt(np.diagonal(fixed, axis1=-2, axis2=-1))
    out: Array = fixed / d[..., :, None] / d[..., None, :]
    return out


@dataclass(frozen=True)
class Weights:
    raw: Array  # (..., p) each driver's share of variance explained, summing to r2
    r2: Array  # (...,)
    beta: Array  # (..., p) standardised regression coefficients


def johnson(rxx: Array, rxy: Array) -> Weights:
    """Johnson's relative weights from the drivers' correlations `rxx` (..., p, p) and their
    correlations with the outcome `rxy` (..., p). Stacks are computed at once."""
    rxx = _positive(rxx)
    values, vectors = np.linalg.eigh(rxx)
    root = np.sqrt(np.maximum(values, EIGEN_FLOOR))
    vt = np.swapaxes(vectors, -1, -2)
    lam = (vectors * root[..., None, :]) @ vt  # Λ = V √L Vᵀ
    lam_inv = (vectors / root[..., None, :]) @ vt
    beta_star = (lam_inv @ rxy[..., None])[..., 0]  # β = Λ⁻¹ r_xy
    raw = (lam**2 @ (beta_star**2)[..., None])[..., 0]
    inverse = (vectors / np.maximum(values, EIGEN_FLOOR)[..., None, :]) @ vt
    beta = (inverse @ rxy[..., None])[..., 0]  # b = R⁻¹ r_xy
    return Weights(raw, raw.sum(axis=-1), beta)


@dataclass(frozen=True)
class Driver:
    """One driver: its share of R² (signed like its coefficient), the 95% bootstrap interval
    of that share, its raw weight (part of R²), and the answers behind it."""

    name: str
    n: int  # respondents who answered it
    n_with_outcome: int  # ... and the outcome
    weight: float  # raw relative weight (the weights sum to R²)
    share: float  # weight / R², in [0, 1]
    low: float  # 95% bootstrap interval of the share
    high: float
    sign: int  # +1 / -1: the sign of its regression coefficient
    beta: float  # standardised regression coefficient
    correlation: float  # with the outcome, pairwise
    mean: float  # performance: the mean answer
    enough: bool


@dataclass(frozen=True)
class Analysis:
    outcome: str
    respondents: int  # rows with the outcome answered
    used: int  # rows the correlations rest on (listwise: complete rows)
    missing: Missing
    r2: float
    r2_low: float
    r2_high: float
    drivers: list[Driver]  # largest share first
    dropped: list[str]  # drivers left out: too few answered them together with the others
    resamples: int
    enough: bool


def prune(counts: Array, min_n: int, coverage: float = COVERAGE) -> list[int]:
    """Which variables (the outcome last, always kept) to analyse: a driver answered by
    fewer than `coverage` of the outcome's respondents is left out (a correlation over a
    small, different subset makes the pairwise matrix unstable); then, while a pair of kept
    variables has fewer than `min_n` rows in common, the driver in most such pairs is left
    out (ties: the one answered least)."""
    m = counts.shape[0]
    kept = [j for j in range(m - 1) if counts[j, -1] >= coverage * counts[-1, -1]] + [m - 1]
    while len(kept) > 1:
        sub = counts[np.ix_(kept, kept)]
        short = (sub < min_n).sum(axis=1)
        short[-1] = -1  # the outcome is never dropped
        worst = int(np.argmax(short[:-1] * 1e12 - np.diagonal(sub)[:-1]))
        if short[worst] <= 0:
            break
        kept.pop(worst)
    return kept


def collinear(rxx: Array, tolerance: float = COLLINEAR) -> list[int]:
    """Drivers to leave out so that none is (nearly) a linear combination of the others:
    while the smallest eigenvalue of their correlations is below `tolerance`, the driver
    with the largest variance inflation (the diagonal of R⁻¹) goes."""
    kept = list(range(rxx.shape[0]))
    out: list[int] = []
    while len(kept) > 1:
        sub = _positive(rxx[np.ix_(kept, kept)])
        values = np.linalg.eigvalsh(sub)
        if values.min() >= tolerance:
            break
        inflation = np.diagonal(np.linalg.pinv(sub, hermitian=True))
        worst = kept[int(np.argmax(inflation))]
        kept.remove(worst)
        out.append(worst)
    return sorted(out)


def analyse(matrix: Array, names: Sequence[str], outcome: str, *, min_n: int = 30,
            missing: Missing = "pairwise", resamples: int = RESAMPLES, seed: int = SEED,
            blocks: int = BLOCKS, coverage: float = COVERAGE) -> Analysis:
    """Johnson's weights of the drivers (the columns of `matrix` but the last) on the outcome
    (the last column), with 95% percentile intervals from `resamples` bootstrap resamples."""
    if matrix.ndim != 2 or matrix.shape[1] != len(names) + 1:
        raise ValueError("the matrix needs one column per driver and the outcome last")
    rows = matrix[~np.isnan(matrix[:, -1])]
    if missing == "listwise":
        rows = rows[~np.isnan(rows).any(axis=1)]
    total = moments(rows) if len(rows) else None
    counts = total.n if total is not None else np.zeros((len(names) + 1,) * 2)
    kept = prune(counts, max(min_n, 3), coverage)
    drivers_kept = kept[:-1]
    dropped = [names[j] for j in range(len(names)) if j not in drivers_kept]
    with_outcome = int(counts[-1, -1])
    if not drivers_kept or total is None:
        return Analysis(outcome, with_outcome, len(rows), missing, float("nan"),
                        float("nan"), float("nan"), [], dropped, 0, False)
    sub = rows[:, kept]
    m = len(kept)
    r, n = correlations(moments(sub))
    if np.isnan(r).any():  # the outcome, or a driver, that does not vary
        if np.isnan(r[-1, -1]):
            return Analysis(outcome, with_outcome, len(sub), missing, float("nan"),
                            float("nan"), float("nan"), [], dropped, 0, False)
        flat = np.isnan(np.diagonal(r))[:-1]  # a driver that does not vary
        if not flat.any():  # or one that does not vary among those who answered another
            flat = np.isnan(r[:-1]).sum(axis=1) == np.isnan(r[:-1]).sum(axis=1).max()
        keep = [drivers_kept[j] for j in range(m - 1) if not flat[j]]
        again = analyse(np.column_stack([matrix[:, keep], matrix[:, -1]]),
                        [names[j] for j in keep], outcome, min_n=min_n, missing=missing,
                        resamples=resamples, seed=seed, blocks=blocks, coverage=coverage)
        unused = [names[j] for j in drivers_kept if j not in keep]
        return Analysis(again.outcome, again.respondents, again.used, missing, again.r2,
                        again.r2_low, again.r2_high, again.drivers,
                        dropped + unused + again.dropped, again.resamples, again.enough)
    redundant = collinear(r[:-1, :-1])
    if redundant:  # a driver the others determine: its weight is not identified
        keep = [drivers_kept[j] for j in range(m - 1) if j not in redundant]
        again = analyse(np.column_stack([matrix[:, keep], matrix[:, -1]]),
                        [names[j] for j in keep], outcome, min_n=min_n, missing=missing,
                        resamples=resamples, seed=seed, blocks=blocks, coverage=coverage)
        unused = [names[drivers_kept[j]] for j in redundant]
        return Analysis(again.outcome, again.respondents, again.used, missing, again.r2,
                        again.r2_low, again.r2_high, again.drivers,
                        dropped + unused + again.dropped, again.resamples, again.enough)
    found = johnson(r[:-1, :-1], r[:-1, -1])
    draws = _bootstrap(sub, resamples, seed, blocks)
    shares = draws.raw / draws.r2[:, None]
    valid = np.isfinite(shares).all(axis=1)
    lows = np.percentile(shares[valid], 2.5, axis=0) if valid.any() else np.full(m - 1, np.nan)
    highs = (np.percentile(shares[valid], 97.5, axis=0) if valid.any()
             else np.full(m - 1, np.nan))
    r2_draws = draws.r2[valid]
    r2 = float(found.r2)
    enough = int(n[-1, -1]) >= min_n
    drivers: list[Driver] = []
    for j in range(m - 1):
        column = sub[:, j]
        answered = column[~np.isnan(column)]
        drivers.append(Driver(
            name=names[drivers_kept[j]], n=int(n[j, j]), n_with_outcome=int(n[j, -1]),
            weight=float(found.raw[j]), share=float(found.raw[j] / r2) if r2 > 0 else 0.0,
            low=float(lows[j]), high=float(highs[j]),
            sign=1 if found.beta[j] >= 0 else -1, beta=float(found.beta[j]),
            correlation=float(r[j, -1]), mean=float(answered.mean()),
            enough=enough and int(n[j, -1]) >= min_n))
    drivers.sort(key=lambda d: (-d.share, d.name))
    return Analysis(outcome, with_outcome, len(sub), missing, r2,
                    float(np.percentile(r2_draws, 2.5)) if len(r2_draws) else float("nan"),
                    float(np.percentile(r2_draws, 97.5)) if len(r2_draws) else float("nan"),
                    drivers, dropped, int(valid.sum()), enough)


def _bootstrap(rows: Array, resamples: int, seed: int, blocks: int) -> Weights:
    """Johnson's weights in each of `resamples` resamples of the rows (see the module)."""
    rng = np.random.default_rng(seed)
    count, m = rows.shape
    groups = min(count, blocks)
    # deal the rows at random into `groups` blocks and sum each block's statistics
    block = rng.permutation(count) % groups
    order = np.argsort(block, kind="stable")
    edges = np.searchsorted(block[order], np.arange(groups + 1))
    per_block = np.stack([moments(rows[order[edges[g]:edges[g + 1]]]).flat()
                          for g in range(groups)])
    weights = rng.multinomial(groups, np.full(groups, 1.0 / groups), size=resamples)
    drawn = Moments.unflat(weights.astype(np.float64) @ per_block, m)
    r, _ = correlations(drawn)
    usable = np.asarray(~np.isnan(r).any(axis=(1, 2)), dtype=bool)
    rxx = np.where(usable[:, None, None], r, np.eye(m))[:, :-1, :-1]
    rxy = np.where(usable[:, None], r[:, :-1, -1], 0.0)
    found = johnson(rxx, rxy)
    nan = np.full_like(found.raw, np.nan)
    return Weights(np.where(usable[:, None], found.raw, nan),
                   np.where(usable, found.r2, np.nan), found.beta)
