"""API errors, JSON replies and the small helpers every endpoint module shares."""

from __future__ import annotations

import json
import secrets
import string
from datetime import datetime, timezone

from werkzeug.wrappers import Response

_ALPHABET = string.ascii_lowercase + string.digits


class ApiError(Exception):
    """A Render-style error reply: ``{"message": ...}`` with an HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def not_found(resource_id: str) -> ApiError:
    # Render's observed wording: {"message":"not found: srv-..."}
    return ApiError(404, f"not found: {resource_id}")


def json_reply(status: int, body=None, headers: dict | None = None) -> Response:
    """A JSON response; 202/204 and ``body=None`` give an empty body without a content type."""
    if body is None:
        response = Response(b"", status=status, headers=headers)
        del response.headers["Content-Type"]  # nothing to describe: Render's 202/204 carry no body
        return response
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json; charset=utf-8")


def new_id(prefix: str, suffix: str = "") -> str:
    """An ID shaped like Render's: ``srv-`` + 20 lowercase letters and digits (+ ``-a`` for Postgres)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(20)) + suffix


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now_iso(epoch: float | None = None) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc) if epoch is not None else datetime.now(timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset); a bad one is a 400 naming the value."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"invalid timestamp: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def json_body(request, *, allow_null: bool = False):
    """The request's JSON body; malformed JSON is a 400 like Render's."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if allow_null:
            return None
        raise ApiError(400, "request body is required")
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "invalid JSON in request body") from None


def json_object(request) -> dict:
    body = json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def check_fields(body: dict, allowed: set[str], what: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"unknown field in {what}: {unknown[0]}")


def want_type(body: dict, field: str, kind, what: str) -> None:
    """400 when ``body[field]`` is present with the wrong JSON type (bool is not an int here)."""
    if field not in body:
        return
    value = body[field]
    bad = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    if bad:
        raise ApiError(400, f"invalid {what}.{field}: {value!r}")
