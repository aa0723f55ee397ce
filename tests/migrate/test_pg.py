"""Connecting to the target: Prisma-style URLs, no password in any error, and whether the server is on this machine."""

from __future__ import annotations

import os
from types import SimpleNamespace

import psycopg
import pytest

from migrate.errors import TargetError
from migrate.pg import connect, fit_parallel_workers, libpq_url, scrub, server_on_this_machine, usable_cores


def test_a_failed_connection_is_a_one_line_target_error_without_the_password(pg_cluster):
    url = f"postgresql://nobody:s3cr%21t@127.0.0.1:{pg_cluster.port}/nope?sslmode=disable&schema=x"
    with pytest.raises(TargetError, match=r'^cannot connect to the target: .*role "nobody" does not exist') as err:
        connect(url)
    assert "s3cr" not in str(err.value) and "\n" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_scrub_hides_the_password_raw_and_percent_decoded():
    url = "postgresql://app:s3cr%21t@db.example/app"
    assert scrub("bad s3cr%21t or s3cr!t\nhere", url) == "bad *** or *** here"
    assert scrub("nothing to hide", "postgresql://db.example/app") == "nothing to hide"


def test_prisma_only_url_parameters_are_removed_and_schema_is_returned():
    url, schema = libpq_url("postgresql://u:p@h:5/db?schema=app&connection_limit=5&sslmode=require")
    assert (url, schema) == ("postgresql://u:p@h:5/db?sslmode=require", "app")
    assert libpq_url("postgresql://h/db") == ("postgresql://h/db", None)


@pytest.mark.parametrize("host, hostaddr, local", [
    ("/var/run/postgresql", "", True), ("@pg", "", True), ("localhost", "", True), ("127.0.0.1", "127.0.0.1", True),
    ("::1", "::1", True), ("dpg-abc-a.oregon-postgres.render.com", "35.227.164.209", False),
    ("10.0.0.7", "10.0.0.7", False), ("db.internal", "", False),
])
def test_only_a_unix_socket_or_a_loopback_address_counts_as_this_machine(host, hostaddr, local):
    conn = SimpleNamespace(info=SimpleNamespace(host=host, hostaddr=hostaddr))  # what a connection's .info tells
    assert server_on_this_machine(conn) is local


@pytest.mark.parametrize("cores, setting, expected", [(2, 2, 1), (1, 2, 0), (4, 2, 2), (2, 0, 0)])
def test_a_server_on_this_machine_gets_no_more_parallel_workers_than_cores_beside_the_leader(
        target_url, monkeypatch, cores, setting, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    with psycopg.connect(target_url, autocommit=True) as conn:  # the test cluster listens on 127.0.0.1: local
        conn.execute(f"SET max_parallel_workers_per_gather = {setting}")
        with conn.transaction():
            fit_parallel_workers(conn, usable_cores())  # as the import's target hash calls it
            assert conn.execute("SHOW max_parallel_workers_per_gather").fetchone()[0] == str(expected)
        # SET LOCAL: the session's own setting is back after the import's transaction
        assert conn.execute("SHOW max_parallel_workers_per_gather").fetchone()[0] == str(setting)
