"""Fixtures shared by the e2e modules that build clusters of fakes (see cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.e2e.cluster import Cluster, running_cluster


@pytest.fixture(scope="module")
def servers() -> Iterator[ExitStack]:
    """Waits for the servers of the module's tests to stop, once, at the end (see cluster.py)."""
    with ExitStack() as stack:
        yield stack


@pytest.fixture
def cluster(servers: ExitStack) -> Iterator[Cluster]:
    with running_cluster(servers) as running:
        yield running
