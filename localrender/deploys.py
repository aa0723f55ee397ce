"""Deploys: create (201, or 202 when queued), get, list, cancel, rollback, the deploy hook, and their lifecycle."""

from __future__ import annotations

import hmac
import secrets

from . import lifecycle
from .paging import filter_in, filter_time, page
from .replies import ApiError, check_fields, json_body, json_reply, now_iso
from .seed import PRIVATE

_CREATE_FIELDS = {"clearCache", "commitId", "imageUrl", "deployMode", "artifactId"}


def render(deploy: dict) -> dict:
    return {k: v for k, v in deploy.items() if k != PRIVATE}


def list_deploys(ctx, request, service_id: str):
    """Newest first, like Render's dashboard (the spec does not state an order)."""
    args = request.args
    with ctx.store.lock:
        items = filter_in(args, ctx.store.service(service_id)["deploys"], "status", lambda d: d["status"])
        for field, param in (("createdAt", "created"), ("updatedAt", "updated"), ("finishedAt", "finished")):
            items = filter_time(args, items, field, param)
        body = page(args, "deploy", items, lambda d: [d["createdAt"], d["id"]], render, newest_first=True)
    return json_reply(200, body)


def get_deploy(ctx, request, service_id: str, deploy_id: str):
    with ctx.store.lock:
        return json_reply(200, render(_find(ctx.store.service(service_id), deploy_id)))


def create_deploy(ctx, request, service_id: str):
    body = json_body(request, allow_null=True) or {}
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    _check_create(body)
    with ctx.store.lock:
        service = ctx.store.service(service_id)
        if "imageUrl" in body and not service.get("imagePath"):
            raise ApiError(400, f"imageUrl is only accepted for image-backed services; {service_id} builds from Git")
        if service["suspended"] == "suspended":
            raise ApiError(409, f"service {service_id} is suspended; resume it before deploying")
        commit = _commit(body.get("commitId"), ctx.clock())
        decision = request.environ.get("localrender.decision")
        deploy = lifecycle.enqueue(ctx, service, "api", commit, getattr(decision, "deploy_failure", None))
        if deploy["status"] == "queued":
            return json_reply(202)  # Render's "accepted, no deploy object yet"
        return json_reply(201, render(deploy))


def rollback(ctx, request, service_id: str):
    """A new deploy reusing the target's build (its commit and start command) with today's env vars."""
    body = json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("deployId"), str):
        raise ApiError(400, "request body must be {\"deployId\": \"dep-...\"}")
    with ctx.store.lock:
        service = ctx.store.service(service_id)
        target = _find(service, body["deployId"])
        if target["status"] not in ("live", "deactivated"):
            raise ApiError(400, f"deploy {target['id']} never went live ({target['status']}); cannot roll back to it")
        decision = request.environ.get("localrender.decision")
        deploy = lifecycle.enqueue(ctx, service, "rollback", dict(target.get("commit") or {}) or None,
                                   getattr(decision, "deploy_failure", None),
                                   command=target[PRIVATE].get("command") if PRIVATE in target else None)
        return json_reply(201, render(deploy))


def cancel_deploy(ctx, request, service_id: str, deploy_id: str):
    with ctx.store.lock:
        service = ctx.store.service(service_id)
        deploy = _find(service, deploy_id)
        if deploy["status"] not in lifecycle.IN_PROGRESS + ("queued",):
            raise ApiError(400, f"deploy {deploy_id} is not in progress ({deploy['status']})")
        lifecycle.finish(ctx, service, deploy, "canceled", ctx.clock())
        return json_reply(200, render(deploy))


def deploy_hook(ctx, request, service_id: str):
    """``GET|POST /deploy/srv-...?key=...``: no auth header, the key is the secret. Unknown or wrong: 404."""
    with ctx.store.lock:
        service = next((s for s in ctx.store.data["services"] if s["id"] == service_id), None)
        expected = service[PRIVATE]["deployHookKey"] if service else ""
        given = request.args.get("key", "")
        if service is None or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(404, "not found")
        deploy = lifecycle.enqueue(ctx, service, "deploy_hook", _commit(None, ctx.clock()), None)
        # Undocumented reply body; this is the shape seen in community reports.
        return json_reply(200, {"deploy": {"id": deploy["id"]}})


def _check_create(body: dict) -> None:
    check_fields(body, _CREATE_FIELDS, "deploy create")
    for field in _CREATE_FIELDS:
        if field in body and not isinstance(body[field], str):
            raise ApiError(400, f"invalid deploy.{field}: {body[field]!r}")
    if body.get("clearCache", "do_not_clear") not in ("clear", "do_not_clear"):
        raise ApiError(400, f"invalid clearCache: {body['clearCache']!r}")
    if body.get("deployMode", "build_and_deploy") not in ("build_and_deploy", "deploy_only"):
        raise ApiError(400, f"invalid deployMode: {body['deployMode']!r}")
    if body.get("deployMode") == "deploy_only" and {"commitId", "imageUrl", "clearCache"} & set(body):
        raise ApiError(400, "deployMode deploy_only cannot be combined with commitId, imageUrl or clearCache")
    if "artifactId" in body and {"commitId", "imageUrl", "deployMode"} & set(body):
        raise ApiError(400, "artifactId cannot be combined with commitId, imageUrl or deployMode")


def _commit(commit_id: str | None, now: float) -> dict:
    return {"id": commit_id or secrets.token_hex(20), "message": "deployed through localrender",
            "createdAt": now_iso(now)}


def _find(service: dict, deploy_id: str) -> dict:
    for deploy in service["deploys"]:
        if deploy["id"] == deploy_id:
            return deploy
    raise ApiError(404, f"not found: {deploy_id}")

