"""Env vars: list with pagination, replace-all PUT, per-key GET/PUT/DELETE, generateValue."""

from __future__ import annotations

import base64

from tests.localrender.conftest import TASKS

BASE = f"/services/{TASKS}/env-vars"


def _env(api) -> dict:
    return {item["envVar"]["key"]: item["envVar"]["value"] for item in api.get(BASE, params={"limit": 100}).json()}


def test_default_service_has_a_few_env_vars(api):
    assert set(_env(api)) == {"NODE_ENV", "NEXT_TELEMETRY_DISABLED", "DATABASE_URL"}


def test_put_all_replaces_every_variable(api):
    reply = api.put(BASE, json=[{"key": "A", "value": "1"}, {"key": "B", "generateValue": True}])
    assert reply.status_code == 200
    assert [item["envVar"]["key"] for item in reply.json()] == ["A", "B"]
    assert set(_env(api)) == {"A", "B"}


def test_put_all_with_null_clears_everything(api):
    assert api.put(BASE, data="null", headers={"Content-Type": "application/json"}).json() == []
    assert _env(api) == {}


def test_put_all_rejects_a_value_together_with_generate_value(api):
    reply = api.put(BASE, json=[{"key": "A", "value": "1", "generateValue": True}])
    assert reply.status_code == 400
    assert "DATABASE_URL" in _env(api)  # nothing replaced


def test_per_key_put_creates_then_updates_without_touching_others(api):
    assert api.put(f"{BASE}/NEW", json={"value": "one"}).json() == {"key": "NEW", "value": "one"}
    assert api.put(f"{BASE}/NEW", json={"value": "two"}).json() == {"key": "NEW", "value": "two"}
    env = _env(api)
    assert env["NEW"] == "two" and "DATABASE_URL" in env
    assert api.get(f"{BASE}/NEW").json() == {"key": "NEW", "value": "two"}


def test_generate_value_is_a_base64_256_bit_secret(api):
    value = api.put(f"{BASE}/SECRET", json={"generateValue": True}).json()["value"]
    assert len(base64.b64decode(value)) == 32
    assert api.put(f"{BASE}/SECRET", json={"generateValue": True}).json()["value"] == value


def test_per_key_delete_then_get_is_404(api):
    assert api.delete(f"{BASE}/NODE_ENV").status_code == 204
    assert api.get(f"{BASE}/NODE_ENV").status_code == 404
    assert api.delete(f"{BASE}/NODE_ENV").status_code == 404


def test_per_key_put_needs_exactly_one_of_value_and_generate_value(api):
    assert api.put(f"{BASE}/X", json={}).status_code == 400
    assert api.put(f"{BASE}/X", json={"value": 5}).status_code == 400
    assert api.put(f"{BASE}/X", json={"value": "a", "generateValue": True}).status_code == 400


def test_list_pages_through_many_variables(api):
    api.put(BASE, json=[{"key": f"K{i:02}", "value": str(i)} for i in range(25)])
    first = api.get(BASE).json()
    assert len(first) == 20
    rest = api.get(BASE, params={"cursor": first[-1]["cursor"]}).json()
    assert [item["envVar"]["key"] for item in first + rest] == [f"K{i:02}" for i in range(25)]
    assert api.get(BASE, params={"cursor": rest[-1]["cursor"]}).json() == []


def test_env_vars_of_an_unknown_service_are_404(api):
    assert api.get("/services/srv-nope/env-vars").status_code == 404
    assert api.put("/services/srv-nope/env-vars/A", json={"value": "1"}).status_code == 404
