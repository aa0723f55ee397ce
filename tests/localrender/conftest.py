"""Helpers for localrender's own tests: an authenticated client bound to the server, and polling."""

from __future__ import annotations

import time

import pytest
import requests

OWNER = "tea-d4mdlocalrenderteam0"
TASKS = "srv-d4mdlocalrendertasks"
STG_DB = "dpg-d4mdlojuibrs738gqn00-a"


class Api:
    """``requests`` with the Bearer key and the base URL filled in; paths start after ``/v1``."""

    def __init__(self, server, key: str):
        self.server = server
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {key}"

    def __getattr__(self, method):
        if method not in ("get", "post", "put", "patch", "delete"):
            raise AttributeError(method)

        def call(path: str, **kwargs):
            kwargs.setdefault("timeout", 10)
            return self.session.request(method.upper(), self.server.base_url + path, **kwargs)

        return call


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll until ``predicate()`` is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


@pytest.fixture
def api(localrender, render_key) -> Api:
    return Api(localrender, render_key)


@pytest.fixture
def api_pg(localrender_pg, render_key) -> Api:
    return Api(localrender_pg, render_key)


def new_postgres(api: Api, **fields) -> dict:
    body = {"name": "tasks-prd-db", "ownerId": OWNER, "plan": "basic_1gb", "version": "15", **fields}
    reply = api.post("/postgres", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()


@pytest.fixture
def serve(render_key, tmp_path):
    """A factory for servers with non-default options; each is stopped and contract-checked at teardown."""
    from tests.fix_localrender import _finish, _serve

    servers = []

    def start(**options):
        options.setdefault("log_dir", tmp_path / f"logs{len(servers)}")
        server = _serve(render_key, **options)
        servers.append(server)
        return Api(server, render_key)

    yield start
    for server in servers:
        _finish(server)
