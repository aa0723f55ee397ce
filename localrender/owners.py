"""``/v1/owners``: the workspaces the key can see."""

from __future__ import annotations

from .paging import filter_in, page
from .replies import json_reply

_FIELDS = ("id", "name", "email", "type", "twoFactorAuthEnabled")


def render_owner(record: dict) -> dict:
    return {k: record[k] for k in _FIELDS if k in record}


def list_owners(ctx, request):
    with ctx.store.lock:
        owners = filter_in(request.args, ctx.store.data["owners"], "name", lambda o: o["name"])
        owners = filter_in(request.args, owners, "email", lambda o: o["email"])
        body = page(request.args, "owner", owners, lambda o: [o["id"]], render_owner)
    return json_reply(200, body)


def get_owner(ctx, request, owner_id: str):
    with ctx.store.lock:
        return json_reply(200, render_owner(ctx.store.owner(owner_id)))
