"""Faults on demand: Nth/share errors, latency, lost create replies, a Postgres stuck in creating, the admin API."""

from __future__ import annotations

import time

import pytest
import requests

from localrender.faults import Faults, parse_spec
from tests.localrender.conftest import OWNER, wait_for

BODY = {"name": "lost-db", "ownerId": OWNER, "plan": "basic_1gb", "version": "15"}


def test_the_nth_request_gets_a_429_with_retry_after_and_ratelimit_headers(api, localrender):
    localrender.faults.fail(429, nth=3, retry_after=7)
    statuses = [api.get("/owners").status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 200]
    localrender.faults.fail(429, nth=1)
    limited = api.get("/owners")
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["Ratelimit-Remaining"] == "0"
    assert {"Ratelimit-Limit", "Ratelimit-Reset"} <= set(limited.headers)
    assert limited.json() == {"message": "rate limit exceeded"}


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_on_a_matching_path_only(api, localrender, status):
    localrender.faults.fail(status, path="/v1/postgres*", times=2)
    assert api.get("/owners").status_code == 200
    assert [api.get("/postgres").status_code for _ in range(3)] == [status, status, 200]


def test_a_share_of_requests_fails_reproducibly():
    def run():
        faults = Faults(seed=42)
        faults.fail(503, share=0.3)
        return [faults.decide("GET", "/v1/owners").status for _ in range(200)]

    first = run()
    assert first == run()
    assert 30 <= first.count(503) <= 90


def test_latency_slows_the_reply(api, localrender):
    localrender.faults.delay(0.3, times=1)
    started = time.monotonic()
    assert api.get("/owners").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_lost_reply_closes_the_connection_after_the_database_was_made(api, localrender):
    localrender.faults.lose_reply("close")
    with pytest.raises(requests.ConnectionError):
        api.post("/postgres", json=BODY)
    found = api.get("/postgres", params={"name": "lost-db"}).json()
    assert len(found) == 1  # the resource exists: a blind retry would create a duplicate


def test_lost_reply_as_500_after_creation(api, localrender):
    localrender.faults.lose_reply("500")
    assert api.post("/postgres", json=BODY).status_code == 500
    assert len(api.get("/postgres", params={"name": "lost-db"}).json()) == 1
    assert api.post("/postgres", json=BODY).status_code == 201  # only once


def test_lost_reply_as_timeout_stalls_then_drops(api, localrender):
    localrender.faults.lose_reply("timeout", hold=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/postgres", json=BODY, timeout=0.2)
    assert len(api.get("/postgres", params={"name": "lost-db"}).json()) == 1


def test_lost_reply_of_a_deploy_after_it_was_queued(api, localrender):
    localrender.faults.lose_reply("close", path="/v1/services/*/deploys")
    before = len(api.get("/services/srv-d4mdlocalrendertasks/deploys").json())
    with pytest.raises(requests.ConnectionError):
        api.post("/services/srv-d4mdlocalrendertasks/deploys", json={})
    assert len(api.get("/services/srv-d4mdlocalrendertasks/deploys").json()) == before + 1


def test_stuck_postgres_stays_creating(api, localrender):
    localrender.faults.stuck_creating()
    stuck = api.post("/postgres", json=BODY).json()
    fine = api.post("/postgres", json={**BODY, "name": "fine"}).json()
    wait_for(lambda: api.get(f"/postgres/{fine['id']}").json()["status"] == "available")
    time.sleep(0.2)
    assert api.get(f"/postgres/{stuck['id']}").json()["status"] == "creating"


def test_admin_endpoint_adds_lists_and_clears_faults(api, localrender):
    admin = localrender.admin_url
    added = api.session.post(f"{admin}/faults", json=[{"status": 503, "nth": 1}], timeout=10)
    assert added.status_code == 201
    assert api.get("/owners").status_code == 503
    assert api.session.get(f"{admin}/faults", timeout=10).json()[0]["fired"] == 1
    assert api.session.post(f"{admin}/faults", json={"status": 418}, timeout=10).status_code == 400
    assert api.session.delete(f"{admin}/faults", timeout=10).status_code == 204
    assert api.session.get(f"{admin}/faults", timeout=10).json() == []


def test_admin_endpoint_needs_the_key(localrender):
    assert requests.get(f"{localrender.admin_url}/faults", timeout=10).status_code == 401


def test_fault_specs_parse_from_text():
    assert parse_spec("status=429,nth=3,path=/v1/postgres*,retry_after=2") == {
        "status": 429, "nth": 3, "path": "/v1/postgres*", "retry_after": 2}
    assert parse_spec("stuck_creating=true,share=0.5") == {"stuck_creating": True, "share": 0.5}
    with pytest.raises(ValueError):
        parse_spec("status")


@pytest.mark.parametrize("spec", [{"status": 418}, {"lose_reply": "later"}, {"share": 2.0}, {"nth": 0}, {},
                                  {"colour": "red", "status": 500}])
def test_bad_fault_rules_are_refused(spec):
    with pytest.raises(ValueError):
        Faults().add(**spec)
