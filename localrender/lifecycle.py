"""The deploy lifecycle: created -> build_in_progress -> update_in_progress -> live (or a configured failure)."""

# One deploy runs per service at a time; later ones wait as `queued`. Step k of a deploy's plan is
# reached (k + 1) * deploy_step_seconds after it started. A service with a local startCommand is
# (re)started at update_in_progress and only goes live once it answers its health check; if it dies
# or never answers, the deploy is update_failed and the previous live deploy runs again (Render keeps
# serving the old instance when a new one fails). A deploy that goes live deactivates the previous one.

from __future__ import annotations

import socket

from .replies import new_id, now_iso
from .seed import PRIVATE

IN_PROGRESS = ("created", "build_in_progress", "pre_deploy_in_progress", "update_in_progress")
FAILURES = ("build_failed", "pre_deploy_failed", "update_failed")
FINISHED = ("live", "deactivated", "canceled") + FAILURES
READY_TIMEOUT = 30.0  # seconds a started process has to answer its health check


def plan_for(failure: str | None, pre_deploy: bool) -> list[str]:
    build, pre, update = ["build_in_progress"], ["pre_deploy_in_progress"] if pre_deploy else [], ["update_in_progress"]
    if failure == "build_failed":
        return build + ["build_failed"]
    if failure == "pre_deploy_failed":
        return build + ["pre_deploy_in_progress", "pre_deploy_failed"]
    if failure == "update_failed":
        return build + pre + update + ["update_failed"]
    return build + pre + update + ["live"]


def enqueue(ctx, service: dict, trigger: str, commit: dict | None, failure: str | None,
            command: str | None = None) -> dict:
    """Add a deploy (caller holds the store lock): ``created`` now, or ``queued`` behind a running one."""
    now = ctx.clock()
    local = service[PRIVATE]
    failure = failure or local.get("deployFailure")
    busy = any(d["status"] in IN_PROGRESS + ("queued",) for d in service["deploys"])
    pre_deploy = bool(service["serviceDetails"].get("envSpecificDetails", {}).get("preDeployCommand"))
    deploy = {"id": new_id("dep-"), "status": "queued" if busy else "created", "trigger": trigger,
              "createdAt": now_iso(now), "updatedAt": now_iso(now),
              PRIVATE: {"plan": plan_for(failure, pre_deploy), "step": -1,
                        "command": command if command is not None else local.get("startCommand")}}
    if commit:
        deploy = {"id": deploy.pop("id"), "commit": commit, **deploy}
    if not busy:
        _begin(deploy, now)
    service["deploys"].append(deploy)
    return deploy


def advance(ctx, now: float) -> bool:
    """Move every service's deploys along (caller holds the store lock); True when anything changed."""
    changed = False
    for service in ctx.store.data["services"]:
        changed = _advance_service(ctx, service, now) or changed
    return changed


def finish(ctx, service: dict, deploy: dict, status: str, now: float) -> None:
    """End a deploy; ``live`` deactivates the previous live deploy, a failure restores its process."""
    previous = [d for d in service["deploys"] if d["status"] == "live" and d is not deploy]
    launched = deploy.get(PRIVATE, {}).get("launched", False)
    deploy["status"], deploy["updatedAt"], deploy["finishedAt"] = status, now_iso(now), now_iso(now)
    if status == "live":
        for old in previous:
            old["status"], old["updatedAt"] = "deactivated", now_iso(now)
    elif launched and ctx.runner is not None:
        if previous and previous[0].get(PRIVATE, {}).get("command"):
            _launch(ctx, service, previous[0], previous[0][PRIVATE].get("env"))
        else:
            ctx.runner.stop(service["id"])


def resume_live(ctx) -> None:
    """At server start: run the live deploy of every service that has a start command."""
    with ctx.store.lock:
        for service in ctx.store.data["services"]:
            live = [d for d in service["deploys"] if d["status"] == "live"]
            command = service[PRIVATE].get("startCommand")
            if live and command:
                private = live[-1].setdefault(PRIVATE, {})
                private.setdefault("command", command)
                _launch(ctx, service, live[-1], private.get("env"))


def local_port(service: dict) -> int:
    """The service's local port: ``x-localrender.port``, else a free one chosen once and kept."""
    local = service[PRIVATE]
    if not local.get("port"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            local["port"] = probe.getsockname()[1]
    return int(local["port"])


def _advance_service(ctx, service: dict, now: float) -> bool:
    active = next((d for d in service["deploys"] if d["status"] in IN_PROGRESS), None)
    changed = False
    if active is None:
        queued = sorted((d for d in service["deploys"] if d["status"] == "queued"), key=lambda d: d["createdAt"])
        if not queued:
            return False
        active, changed = queued[0], True
        _begin(active, now)
    return _step(ctx, service, active, now) or changed


def _step(ctx, service: dict, deploy: dict, now: float) -> bool:
    private, changed = deploy[PRIVATE], False
    plan = private["plan"]
    while private["step"] + 1 < len(plan):
        nxt = plan[private["step"] + 1]
        if now < private["t0"] + (private["step"] + 2) * ctx.deploy_step_seconds:
            break
        if nxt == "live" and private.get("launched"):
            nxt = _process_verdict(ctx, service, private, now)
            if nxt is None:
                break
        private["step"] += 1
        deploy["status"], deploy["updatedAt"], changed = nxt, now_iso(now), True
        if nxt == "update_in_progress" and plan[-1] == "live" and private.get("command") and ctx.runner:
            _launch(ctx, service, deploy, None)
            private["launchedAt"] = now
        if nxt in FINISHED:
            finish(ctx, service, deploy, nxt, now)
            break
    return changed


def _process_verdict(ctx, service: dict, private: dict, now: float) -> str | None:
    """``live`` once healthy, ``update_failed`` when it died or timed out, None while still starting."""
    status = ctx.runner.status(service["id"])
    if status == "ready":
        return "live"
    if status == "starting" and now - private.get("launchedAt", now) < READY_TIMEOUT:
        return None
    return "update_failed"


def _begin(deploy: dict, now: float) -> None:
    deploy["status"], deploy["startedAt"], deploy["updatedAt"] = "created", now_iso(now), now_iso(now)
    deploy[PRIVATE]["t0"] = now


def _launch(ctx, service: dict, deploy: dict, env: dict | None) -> None:
    if ctx.runner is None:
        return
    env = env if env is not None else {e["key"]: e["value"] for e in service["envVars"]}
    port = local_port(service)
    # Remember what this release ran with, so a failed successor can bring exactly this back.
    deploy[PRIVATE]["env"] = env
    deploy[PRIVATE]["launched"] = True
    service[PRIVATE]["localUrl"] = f"http://127.0.0.1:{port}"
    ctx.runner.start(service["id"], deploy[PRIVATE]["command"], env, port,
                     service["serviceDetails"].get("healthCheckPath", ""), service[PRIVATE].get("cwd"))
