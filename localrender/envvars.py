"""``/v1/services/{id}/env-vars``: list, replace-all PUT, and per-key GET/PUT/DELETE. Writes never redeploy."""

from __future__ import annotations

import base64
import secrets

from .paging import encode_cursor, page
from .replies import ApiError, json_body, json_object, json_reply, now_iso


def generated_value() -> str:
    """What ``generateValue: true`` produces on Render: a base64-encoded 256-bit random value."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def list_env_vars(ctx, request, service_id: str):
    with ctx.store.lock:
        env = ctx.store.service(service_id)["envVars"]
        return json_reply(200, _page(request.args, env))


def replace_env_vars(ctx, request, service_id: str):
    """Replace *all* variables; an empty body or ``null`` clears them (observed on Render)."""
    body = json_body(request, allow_null=True)
    if body is None:
        body = []
    if not isinstance(body, list):
        raise ApiError(400, "request body must be a JSON array of {key, value} or {key, generateValue}")
    new_env, seen = [], set()
    for index, item in enumerate(body):
        key, value = _entry(item, f"item {index}", with_key=True)
        if key in seen:
            raise ApiError(400, f"duplicate environment variable key: {key}")
        seen.add(key)
        new_env.append({"key": key, "value": value})
    with ctx.store.lock:
        record = ctx.store.service(service_id)
        record["envVars"] = new_env
        record["updatedAt"] = now_iso(ctx.clock())
        return json_reply(200, _page(request.args, new_env, everything=True))


def get_env_var(ctx, request, service_id: str, key: str):
    with ctx.store.lock:
        return json_reply(200, dict(_find(ctx.store.service(service_id), key)))


def put_env_var(ctx, request, service_id: str, key: str):
    """Create or update one key; ``generateValue`` only generates when the key is new."""
    body = json_object(request)
    _, value = _entry(body, "request body", with_key=False)
    with ctx.store.lock:
        record = ctx.store.service(service_id)
        existing = next((e for e in record["envVars"] if e["key"] == key), None)
        if existing is None:
            existing = {"key": key, "value": value}
            record["envVars"].append(existing)
        elif "value" in body:
            existing["value"] = value
        record["updatedAt"] = now_iso(ctx.clock())
        return json_reply(200, dict(existing))


def delete_env_var(ctx, request, service_id: str, key: str):
    with ctx.store.lock:
        record = ctx.store.service(service_id)
        record["envVars"].remove(_find(record, key))
        record["updatedAt"] = now_iso(ctx.clock())
    return json_reply(204)


def _entry(item, where: str, with_key: bool) -> tuple[str | None, str]:
    """Check one ``{key?, value}`` / ``{key?, generateValue: true}`` item; return (key, value)."""
    if not isinstance(item, dict):
        raise ApiError(400, f"{where} must be an object")
    allowed = {"key", "value", "generateValue"} if with_key else {"value", "generateValue"}
    extra = sorted(set(item) - allowed)
    if extra:
        raise ApiError(400, f"{where}: unknown field {extra[0]}")
    key = item.get("key")
    if with_key and (not isinstance(key, str) or not key):
        raise ApiError(400, f"{where}: key must be a non-empty string")
    if ("value" in item) == ("generateValue" in item):
        raise ApiError(400, f"{where}: give exactly one of value and generateValue")
    if "value" in item:
        if not isinstance(item["value"], str):
            raise ApiError(400, f"{where}: value must be a string")
        return key, item["value"]
    if item["generateValue"] is not True:
        raise ApiError(400, f"{where}: generateValue must be true")
    return key, generated_value()


def _find(record: dict, key: str) -> dict:
    for entry in record["envVars"]:
        if entry["key"] == key:
            return entry
    raise ApiError(404, f"not found: environment variable {key} on {record['id']}")


def _page(args, env: list[dict], everything: bool = False) -> list[dict]:
    items = [{"key": e["key"], "value": e["value"]} for e in env]
    if everything:
        # The replace-all reply lists every variable it stored, not one page of them.
        return [{"cursor": encode_cursor([e["key"]]), "envVar": e} for e in sorted(items, key=lambda e: e["key"])]
    return page(args, "envVar", items, lambda e: [e["key"]], lambda e: e)
