"""One demo history for every analytics test that looks for the planted truths: generating
it takes seconds, so it is made once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from kokemus import bootstrap
from kokemus.config import Settings
from kokemus.demo import generate

# 8,000 customers give ~290 decided B2B accounts: fewer leave the planted loss rates within
# sampling noise of 0.1, too loose to check their sizes.
DEMO_CUSTOMERS = 8_000


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bootstrap.Kokemus]:
    folder: Path = tmp_path_factory.mktemp("demo")
    with bootstrap.build(Settings(data_dir=folder, secret_key="test-secret")) as kk:
        generate.run(kk, customers=DEMO_CUSTOMERS, end=date(2026, 6, 30))
        yield kk
