"""Tests for infra/render/client.py: retry hints and backoff (pure), then real HTTP against localrender."""

from __future__ import annotations

import logging
import socket
import traceback

import pytest

from infra.render.client import DEFAULT_BASE_URL, RenderClient, _query, backoff, retry_hint
from infra.render.errors import (RenderAPIError, RenderAuthError, RenderBadRequest, RenderConflict,
                                 RenderConnectionError, RenderNotFound, RenderRateLimited, RenderServerError)

NOW = 1_760_000_000.0  # a fixed "now" in epoch seconds (2025-10-09)
KEY = "rnd_unitTESTkey0000000000"


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "7"}, 7.0),
    ({"Ratelimit-Reset": "45"}, 45.0),  # observed form: seconds left
    ({"Ratelimit-Reset": str(int(NOW) + 30)}, 30.0),  # documented form: epoch seconds
    ({"Ratelimit-Reset": str(int(NOW) - 5)}, 0.0),  # an epoch already past: no wait
    ({"Retry-After": "Thu, 09 Oct 2025 08:53:40 GMT"}, 20.0),  # HTTP date, 20 s after NOW
    ({"Retry-After": "3", "Ratelimit-Reset": "50"}, 3.0),  # Retry-After wins
    ({"Retry-After": "soon", "Ratelimit-Reset": "50"}, 50.0),  # an unreadable one is skipped
    ({"Retry-After": "-1"}, None),
    ({"Retry-After": "nan"}, None),
    ({}, None),
])
def test_retry_hint_reads_both_headers_in_both_forms(headers, expected):
    assert retry_hint(headers, NOW) == expected


def test_retry_hint_can_be_limited_to_retry_after():
    assert retry_hint({"Ratelimit-Reset": "50"}, NOW, ("Retry-After",)) is None


def test_backoff_doubles_from_the_base_and_is_capped():
    assert [backoff(n, base=0.5, cap=5, jitter=0.999999) for n in range(6)] == pytest.approx([0.5, 1, 2, 4, 5, 5])


def test_backoff_jitter_scales_between_half_and_full():
    assert backoff(2, base=0.5, cap=60, jitter=0.0) == 1.0
    assert backoff(2, base=0.5, cap=60, jitter=0.5) == 1.5


def test_empty_key_is_refused_up_front():
    with pytest.raises(ValueError, match="API key is empty"):
        RenderClient("  ")


def test_base_url_comes_from_the_argument_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.delenv("RENDER_API_URL", raising=False)
    assert RenderClient(KEY).base_url == DEFAULT_BASE_URL
    monkeypatch.setenv("RENDER_API_URL", "http://127.0.0.1:9/v1/")
    assert RenderClient(KEY).base_url == "http://127.0.0.1:9/v1"
    assert RenderClient(KEY, "https://other.example/v1").base_url == "https://other.example/v1"


def test_a_bad_base_url_is_refused_without_echoing_it():
    with pytest.raises(ValueError, match="RENDER_API_URL") as caught:
        RenderClient(KEY, "ftp://user:pw@host/v1")
    assert "pw" not in str(caught.value)


def test_from_env_requires_the_key_and_reads_the_url():
    with pytest.raises(ValueError, match="RENDER_API_KEY is not set"):
        RenderClient.from_env({})
    client = RenderClient.from_env({"RENDER_API_KEY": KEY, "RENDER_API_URL": "http://127.0.0.1:9/v1"})
    assert client.base_url == "http://127.0.0.1:9/v1"


def test_from_config_reads_the_stack_keys_and_falls_back_to_the_environment(monkeypatch):
    monkeypatch.delenv("RENDER_API_KEY", raising=False)
    with pytest.raises(ValueError, match="pulumi config set --secret renderApiKey"):
        RenderClient.from_config({})
    client = RenderClient.from_config({"renderApiKey": KEY, "renderApiUrl": "http://127.0.0.1:9/v1"})
    assert client.base_url == "http://127.0.0.1:9/v1"
    monkeypatch.setenv("RENDER_API_KEY", KEY)
    assert RenderClient.from_config({}).base_url


def test_client_repr_hides_the_key():
    client = RenderClient(KEY, "http://127.0.0.1:9/v1")
    assert repr(client) == "RenderClient(base_url='http://127.0.0.1:9/v1')"
    assert KEY not in repr(client.__dict__)


def test_query_values_are_spelled_as_the_api_expects():
    assert _query({"includeReplicas": True, "suspended": False, "name": ["a", "b"], "region": None, "limit": 5}) == {
        "includeReplicas": "true", "suspended": "false", "name": "a,b", "limit": "5"}


def test_a_filter_value_with_a_comma_is_refused_before_sending():
    with pytest.raises(ValueError, match="holds a comma"):
        RenderClient(KEY, "http://127.0.0.1:9/v1").get("/postgres", params={"name": ["a,b"]})


def test_paths_must_be_absolute():
    with pytest.raises(ValueError, match="must start with '/'"):
        RenderClient(KEY, "http://127.0.0.1:9/v1").get("owners")


# -- real HTTP against localrender ------------------------------------------------------------------

OWNER = "tea-d4mdlocalrenderteam0"
TASKS = "srv-d4mdlocalrendertasks"
STG_DB = "dpg-d4mdlojuibrs738gqn00-a"


class Waits(list):
    """Stands in for time.sleep: records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def client(localrender, render_key, waits):
    """A client for the test's server that never really sleeps (jitter 0: backoff is exactly half its step)."""
    with RenderClient(render_key, localrender.base_url, timeout=(2, 5), sleep=waits, jitter=lambda: 0.0) as api:
        yield api
    assert localrender.request_violations == [], "the client sent requests that break the OpenAPI document"


def served(caplog, method: str, path: str) -> int:
    """How many ``method path`` requests localrender answered (its one log line per request)."""
    return sum(1 for r in caplog.records if r.name == "localrender" and r.getMessage().startswith(f"{method} {path} "))


def new_postgres(client, **fields) -> dict:
    return client.post("/postgres", json={"name": "tasks-prd-db", "ownerId": OWNER, "plan": "basic_1gb",
                                          "version": "15", **fields})


def test_get_returns_decoded_json_and_delete_returns_none(client):
    owners = client.get("/owners")
    assert [item["owner"]["id"] for item in owners] == [OWNER]
    client.put(f"/services/{TASKS}/env-vars/EXTRA", json={"value": "1"})
    assert client.delete(f"/services/{TASKS}/env-vars/EXTRA") is None


def test_iter_items_walks_every_page_with_the_last_cursor(client, caplog):
    caplog.set_level("INFO", logger="localrender")
    for n in range(7):
        client.put(f"/services/{TASKS}/env-vars/PAGED_{n}", json={"value": str(n)})
    keys = [item["key"] for item in client.iter_items(f"/services/{TASKS}/env-vars", "envVar", limit=3)]
    assert sorted(keys) == sorted([f"PAGED_{n}" for n in range(7)] + ["DATABASE_URL", "NEXT_TELEMETRY_DISABLED",
                                                                        "NODE_ENV"])
    assert len(set(keys)) == 10
    # 10 items at 3 a page: 4 pages, then the empty page that ends the walk.
    assert served(caplog, "GET", f"/v1/services/{TASKS}/env-vars") == 5


def test_iter_items_passes_multi_value_filters(client):
    created = new_postgres(client, name="tasks-prd-db")
    new_postgres(client, name="unrelated-db")
    found = client.iter_items("/postgres", "postgres", limit=1,
                              name=["tasks-prd-db", "test-codex-migration-stg-db"], ownerId=[OWNER],
                              includeReplicas=True, region=None)
    assert sorted(db["id"] for db in found) == sorted([created["id"], STG_DB])


def test_429_is_retried_after_the_servers_retry_after_and_logged(localrender, client, waits, caplog):
    rule = localrender.faults.add(status=429, method="GET", path="/v1/owners", times=2, retry_after=7)
    assert client.get("/owners")[0]["owner"]["id"] == OWNER
    assert (rule.seen, rule.fired) == (3, 2)
    assert waits == [7, 7]
    logged = [r.getMessage() for r in caplog.records if r.name == "infra.render.client" and r.levelname == "WARNING"]
    assert len(logged) == 2 and logged[1].startswith("GET /v1/owners -> 429: rate limit exceeded (retry after 7s)")
    assert logged[1].endswith("; retry 2 of 5 in 7.0s")


def test_a_long_retry_after_is_capped(localrender, render_key, waits):
    localrender.faults.add(status=429, method="GET", path="/v1/owners", times=1, retry_after=3600)
    with RenderClient(render_key, localrender.base_url, max_wait=30, sleep=waits, jitter=lambda: 0.0) as api:
        api.get("/owners")
    assert waits == [30]


def test_real_rate_limit_raises_with_the_reset_hint_once_retries_run_out(localrender, render_key, waits):
    localrender.limits.set("get", 2, 60)
    with RenderClient(render_key, localrender.base_url, max_retries=1, sleep=waits, jitter=lambda: 0.0) as api:
        api.get("/owners")
        api.get("/owners")
        with pytest.raises(RenderRateLimited) as caught:
            api.get("/owners")
    assert 50 <= caught.value.retry_after <= 60
    assert len(waits) == 1 and 50 <= waits[0] <= 60  # the one retry waited for the window to reset
    assert str(caught.value).startswith("GET /v1/owners -> 429: rate limit exceeded (retry after ")


def test_5xx_is_retried_for_get_with_doubling_backoff(localrender, client, waits):
    rule = localrender.faults.add(status=503, method="GET", path=f"/v1/postgres/{STG_DB}", times=3)
    assert client.get(f"/postgres/{STG_DB}")["id"] == STG_DB
    assert rule.seen == 4
    assert waits == [0.25, 0.5, 1.0]


def test_5xx_raises_server_error_when_retries_run_out(localrender, render_key, waits):
    rule = localrender.faults.add(status=500, method="GET", path="/v1/owners")
    with RenderClient(render_key, localrender.base_url, max_retries=2, sleep=waits, jitter=lambda: 0.0) as api:
        with pytest.raises(RenderServerError) as caught:
            api.get("/owners")
    assert rule.seen == 3 and len(waits) == 2
    assert caught.value.status == 500 and caught.value.request_id.startswith("req-")


@pytest.mark.parametrize("method, path, body", [
    ("PUT", f"/services/{TASKS}/env-vars/RETRIED", {"value": "x"}),
    ("PATCH", f"/services/{TASKS}", {"name": "tasks"}),
    ("DELETE", f"/services/{TASKS}/env-vars/NODE_ENV", None),
])
def test_idempotent_writes_are_retried_after_5xx(localrender, client, waits, method, path, body):
    rule = localrender.faults.add(status=500, method=method, path="/v1" + path, times=1)
    client.request(method, path, json=body)
    assert (rule.seen, waits) == (2, [0.25])


@pytest.mark.parametrize("status, cls", [(500, RenderServerError), (503, RenderServerError),
                                         (429, RenderRateLimited)])
def test_post_is_never_retried(localrender, client, waits, status, cls):
    rule = localrender.faults.add(status=status, method="POST", path="/v1/postgres")
    with pytest.raises(cls):
        new_postgres(client)
    assert rule.seen == 1 and waits == []


def test_a_post_whose_reply_is_lost_raises_once_and_the_resource_exists(localrender, client, waits):
    localrender.faults.lose_reply("close", method="POST", path="/v1/postgres")
    with pytest.raises(RenderConnectionError) as caught:
        new_postgres(client, name="lost-reply-db")
    assert waits == [] and caught.value.status is None
    assert "may still have been applied, look the resource up" in str(caught.value)
    assert [db["name"] for db in client.iter_items("/postgres", "postgres", name=["lost-reply-db"])] == [
        "lost-reply-db"]


def test_a_slow_reply_times_out_and_get_is_retried(localrender, render_key, waits):
    rule = localrender.faults.add(latency=1.0, method="GET", path="/v1/owners", times=1)
    with RenderClient(render_key, localrender.base_url, timeout=(2, 0.3), sleep=waits, jitter=lambda: 0.0) as api:
        assert api.get("/owners")
    assert rule.seen == 2 and waits == [0.25]


def test_a_closed_port_is_a_connection_error_after_retries(render_key, waits, free_port):
    with RenderClient(render_key, f"http://127.0.0.1:{free_port}/v1", max_retries=2, sleep=waits) as api:
        with pytest.raises(RenderConnectionError) as caught:
            api.get("/owners")
        assert len(waits) == 2
        with pytest.raises(RenderConnectionError) as post_caught:
            api.post("/postgres", json={})
        assert len(waits) == 2  # the POST was not retried
    assert str(caught.value) == f"GET /v1/owners -> no reply: [Errno 111] Connection refused (127.0.0.1:{free_port})"
    assert "may still have been applied" not in str(post_caught.value)  # refused: it was never sent


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_wrong_key_is_an_auth_error(localrender):
    with RenderClient("rnd_wrongKEY", localrender.base_url, sleep=Waits()) as api:
        with pytest.raises(RenderAuthError) as caught:
            api.get("/owners")
    assert (caught.value.status, caught.value.message) == (401, "unauthorized")


def test_a_missing_resource_is_not_found_for_get_and_delete(client):
    with pytest.raises(RenderNotFound) as caught:
        client.get("/postgres/dpg-doesnotexist0000000-a")
    assert str(caught.value).startswith(
        "GET /v1/postgres/dpg-doesnotexist0000000-a -> 404: not found: dpg-doesnotexist0000000-a (request req-")
    with pytest.raises(RenderNotFound):
        client.delete(f"/services/{TASKS}/env-vars/NO_SUCH_KEY")


def test_a_second_free_database_is_a_bad_request(client):
    with pytest.raises(RenderBadRequest) as caught:
        new_postgres(client, plan="free")
    assert caught.value.status == 400 and "free database" in caught.value.message


def test_patching_a_database_still_creating_is_a_conflict(localrender, client):
    localrender.faults.stuck_creating()
    created = new_postgres(client)
    with pytest.raises(RenderConflict) as caught:
        client.patch(f"/postgres/{created['id']}", json={"plan": "basic_4gb"})
    assert caught.value.status == 409 and "creating" in caught.value.message


def test_the_key_never_leaks_from_any_error_path(localrender, render_key, caplog, free_port):
    caplog.set_level(logging.DEBUG)
    localrender.faults.add(status=503, method="GET", path="/v1/owners", times=1)
    localrender.faults.add(status=429, method="GET", path="/v1/services", times=1)
    localrender.faults.add(latency=1.0, method="GET", path=f"/v1/services/{TASKS}", times=1)
    localrender.faults.lose_reply("close", method="POST", path="/v1/postgres")
    errors: list[Exception] = []
    options = dict(max_retries=0, timeout=(2, 0.3), sleep=Waits())
    body = {"name": "leak-db", "ownerId": OWNER, "plan": "basic_1gb", "version": "15"}
    calls = [(render_key, localrender.base_url, "GET", "/owners", None),
             (render_key, localrender.base_url, "GET", "/services", None),
             (render_key, localrender.base_url, "GET", f"/services/{TASKS}", None),
             (render_key, localrender.base_url, "POST", "/postgres", body),
             (render_key, localrender.base_url, "POST", "/postgres", {**body, "plan": "free"}),
             (render_key, localrender.base_url, "GET", "/postgres/dpg-none-a", None),
             (render_key, f"http://127.0.0.1:{free_port}/v1", "GET", "/owners", None),
             ("rnd_wrongKEYwrongKEY", localrender.base_url, "GET", "/owners", None)]
    for key, base, method, path, json_body in calls:
        with RenderClient(key, base, **options) as api:
            with pytest.raises(RenderAPIError) as caught:
                api.request(method, path, json=json_body)
            errors.append(caught.value)
            assert render_key not in repr(api) + repr(vars(api))
    assert len({type(e) for e in errors}) == 6
    shown = [str(e) for e in errors] + [repr(e) for e in errors] + [
        "".join(traceback.format_exception(e)) for e in errors] + [caplog.text]
    for text in shown:
        assert render_key not in text and "rnd_wrongKEYwrongKEY" not in text
    assert any("retry" in r.getMessage() or "->" in r.getMessage() for r in caplog.records)
