"""The HTTP layer: auth, rate limits and their headers, request ids, unknown paths and methods."""

from __future__ import annotations

import logging
import socket
import time

import pytest
import requests

from localrender.ratelimit import RateLimiter, bucket_for
from tests.localrender.conftest import TASKS


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
def test_missing_or_wrong_key_is_401(localrender, headers):
    reply = requests.get(f"{localrender.base_url}/owners", headers=headers, timeout=10)
    assert reply.status_code == 401
    assert reply.json() == {"message": "unauthorized"}


def test_replies_carry_ratelimit_headers_and_a_request_id(api):
    first, second = api.get("/owners"), api.get("/owners")
    assert first.headers["Ratelimit-Limit"] == "400"
    assert int(first.headers["Ratelimit-Remaining"]) == int(second.headers["Ratelimit-Remaining"]) + 1
    assert 0 < int(first.headers["Ratelimit-Reset"]) <= 60
    assert first.headers["Render-Request-Id"] != second.headers["Render-Request-Id"]


def test_requests_past_the_limit_get_429_until_the_window_resets(api, localrender):
    localrender.limits.set("get", 2, 0.5)
    assert [api.get("/owners").status_code for _ in range(3)] == [200, 200, 429]
    limited = api.get("/owners")
    assert limited.headers["Retry-After"] == "1"
    assert api.put(f"/services/{TASKS}/env-vars/A", json={"value": "1"}).status_code == 200  # other bucket


    time.sleep(0.55)
    assert api.get("/owners").status_code == 200


def test_per_service_buckets_count_deploys_separately():
    limiter = RateLimiter({"service_action": (1, 60)})
    assert limiter.hit("POST", "/v1/services/srv-a/deploys")[0]
    assert not limiter.hit("POST", "/v1/services/srv-a/deploys")[0]
    assert limiter.hit("POST", "/v1/services/srv-b/deploys")[0]


@pytest.mark.parametrize("method, path, bucket", [
    ("GET", "/v1/postgres", "get"), ("POST", "/v1/postgres", "create_postgres"),
    ("PATCH", "/v1/postgres/dpg-x-a", "write"), ("PATCH", "/v1/services/srv-x", "service_action"),
    ("POST", "/v1/services/srv-x/deploys", "service_action"), ("GET", "/deploy/srv-x", "service_action"),
    ("PUT", "/v1/services/srv-x/env-vars", "write"),
])
def test_requests_fall_into_renders_buckets(method, path, bucket):
    assert bucket_for(method, path)[0] == bucket


def test_unknown_path_is_404_and_wrong_method_is_405(api):
    assert api.get("/nothing-here").status_code == 404
    assert api.delete("/owners").status_code == 405


def test_the_key_never_reaches_the_log(localrender, render_key, caplog):
    caplog.set_level(logging.DEBUG, logger="localrender")
    requests.get(f"{localrender.base_url}/owners", headers={"Authorization": f"Bearer {render_key}"}, timeout=10)
    requests.get(localrender.deploy_hook_url(TASKS), timeout=10)
    hook_key = localrender.deploy_hook_url(TASKS).split("key=")[1]
    assert "GET /v1/owners -> 200" in caplog.text
    assert render_key not in caplog.text and hook_key not in caplog.text
    assert render_key not in repr(localrender.__dict__)


def test_a_malformed_request_line_does_not_log_its_query(localrender, caplog):
    caplog.set_level(logging.DEBUG, logger="localrender")
    with socket.create_connection(("127.0.0.1", localrender.port), timeout=5) as sock:
        sock.sendall(b"GET /deploy/srv-x?key=SECRETHOOKKEY HTTP/1.1 junk\r\n\r\n")
        sock.recv(100)
    time.sleep(0.1)
    assert "-> 400" in caplog.text
    assert "SECRETHOOKKEY" not in caplog.text
