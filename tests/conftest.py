"""Shared fixtures: a throwaway PostgreSQL 15 cluster per test session, a fresh database per test.

Under CI (``CI=true``) a missing PostgreSQL is an error, not a skip: a green run must mean the
database tests really ran.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from migrate.cluster import Cluster, find_bindir

pytest_plugins = ["tests.fix_localrender"]

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURE_APP = ROOT / "tests" / "fixtures" / "app"
_counter = itertools.count()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (real Prisma CLI, big datasets)")
    config.addinivalue_line("markers", "pulumi_cli: needs the real `pulumi` binary; skipped when it is absent")


@pytest.fixture(scope="session")
def pg_cluster():
    """One PostgreSQL cluster for the whole session, stopped at the end."""
    if find_bindir() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL server binaries are missing under CI=true; .ci/run must install them")
        pytest.skip("PostgreSQL server binaries not found (apt-get install -y postgresql)")
    with Cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster):
    """A URL to a new, empty database of its own for each test."""
    name = f"t{os.getpid()}_{next(_counter)}"
    return pg_cluster.create_database(name)
