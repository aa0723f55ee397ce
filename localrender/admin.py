"""``/_admin``: fault rules, rate limits, the state and deploy-hook URLs, for tests and rehearsals."""

from __future__ import annotations

from .replies import ApiError, json_body, json_reply
from .seed import PRIVATE


def admin_routes(faults, limiter) -> list[tuple[str, dict]]:
    """Handlers bound to this server's fault rules and rate limiter."""

    def list_faults(ctx, request):
        return json_reply(200, faults.list())

    def add_faults(ctx, request):
        """Body: one fault object or a list of them (fields of ``faults.Fault``)."""
        body = json_body(request)
        specs = body if isinstance(body, list) else [body]
        try:
            added = [faults.add(**spec) for spec in specs]
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"bad fault: {exc}") from None
        return json_reply(201, [vars(rule) for rule in added])

    def clear_faults(ctx, request):
        faults.clear()
        return json_reply(204)

    def get_limits(ctx, request):
        return json_reply(200, {name: {"limit": lim, "window": win} for name, (lim, win) in limiter.limits.items()})

    def set_limits(ctx, request):
        """Body: ``{"<bucket>": {"limit": N, "window": seconds}}``."""
        body = json_body(request)
        try:
            for bucket, spec in body.items():
                limiter.set(bucket, spec["limit"], spec.get("window", 60))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ApiError(400, f"bad limits: {exc}") from None
        return get_limits(ctx, request)

    return [
        ("/_admin/faults", {"GET": list_faults, "POST": add_faults, "DELETE": clear_faults}),
        ("/_admin/limits", {"GET": get_limits, "PUT": set_limits}),
        ("/_admin/state", {"GET": get_state}),
        ("/_admin/services/<service_id>/deploy-hook", {"GET": get_deploy_hook}),
    ]


def get_state(ctx, request):
    """The whole state, local fields included (it holds passwords: admin only)."""
    return json_reply(200, ctx.store.snapshot())


def get_deploy_hook(ctx, request, service_id: str):
    with ctx.store.lock:
        key = ctx.store.service(service_id)[PRIVATE]["deployHookKey"]
    return json_reply(200, {"url": f"{ctx.public_url}/deploy/{service_id}?key={key}"})
