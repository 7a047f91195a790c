"""What every demo scenario provides: its workspace file and a generator of blocks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from kokemus.demo.feedback import Asked
from kokemus.demo.timeline import Period, Timeline
from kokemus.domain.events import Account, Customer
from kokemus.domain.texts import Text
from kokemus.domain.workspace import Workspace


@dataclass(frozen=True)
class Cases:
    """Cases a rule opened in one block, one per event `rows` of timeline step `step` (its
    cause), for customers `who`, opened and resolved at these times (UTC seconds)."""

    step: int
    rows: np.ndarray
    who: np.ndarray
    opened: np.ndarray
    resolved: np.ndarray
    rule: str
    department: str
    title: Text
    priority: str
    sla_s: int


@dataclass
class Block:
    """Customers (and accounts) of one block, their events and the survey invitations the
    events triggered; indices in the timeline point into `customer_ids` and `account_ids`."""

    timeline: Timeline
    customer_ids: pa.Array
    customers: list[Customer]
    account_ids: pa.Array | None = None
    accounts: list[Account] = field(default_factory=list)
    feedback: list[Asked] = field(default_factory=list)  # invitations and answers
    cases: list[Cases] = field(default_factory=list)  # what rules opened, and when resolved


# (random generator, period, index of the block's first customer, customers in the block)
BlockMaker = Callable[[np.random.Generator, Period, int, int], Block]


@dataclass(frozen=True)
class Scenario:
    slug: str
    workspace_file: Path
    share: float  # of the demo's customers
    make_block: BlockMaker
    block_size: int = 20_000
    document: Callable[[], Workspace] | None = None  # none: workspace_file as it is
    stream_of: str | None = None  # draw as this scenario does (its random streams)
