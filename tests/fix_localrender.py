"""Pytest plugin: a fresh localrender per test (``localrender``, ``localrender_pg``) and its API key."""

from __future__ import annotations

import secrets

import pytest

from localrender import LocalRender
from localrender.validation import spec_path


@pytest.fixture
def render_key() -> str:
    """A random API key for this test's server."""
    return "rnd_" + secrets.token_urlsafe(24)


def _serve(key: str, **options):
    # Without Render's OpenAPI document the server still runs; only the contract check is off.
    server = LocalRender(key, validate=spec_path() is not None, **options)
    server.start()
    return server


def _finish(server: LocalRender) -> None:
    server.stop()
    if server.violations:
        shown = "\n  ".join(server.violations[:10])
        pytest.fail(f"localrender sent {len(server.violations)} reply(ies) that break the OpenAPI document:\n  {shown}",
                    pytrace=False)


@pytest.fixture
def localrender(render_key, tmp_path):
    """A server with the default workspace on a free port: fast lifecycles, replies checked against the spec."""
    server = _serve(render_key, log_dir=tmp_path / "localrender-logs")
    yield server
    _finish(server)


@pytest.fixture
def localrender_pg(render_key, pg_cluster, tmp_path):
    """Like ``localrender``, but Postgres instances are real databases on the session's cluster."""
    server = _serve(render_key, pg_admin_url=pg_cluster.url(), log_dir=tmp_path / "localrender-logs")
    yield server
    _finish(server)
