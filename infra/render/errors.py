"""The RenderAPIError hierarchy: one class per kind of failure, each printable as one self-contained line."""

from __future__ import annotations

import json
from typing import Any, Iterable

from migrate.redact import redact as _redact

# Render puts a short human sentence in "message"; anything longer than this is a stack dump or an HTML page.
_MAX_MESSAGE = 300


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` on one line with every secret and every URL password (connection strings) masked."""
    return _redact(text, secrets, one_line=True)


class RenderAPIError(Exception):
    """A Render API call failed.

    :param method: HTTP method, e.g. ``POST``.
    :param path: URL path without the query, e.g. ``/v1/postgres`` (queries may hold deploy-hook keys).
    :param status: HTTP status, or ``None`` when no reply arrived.
    :param message: Render's ``message`` (or a short description), already redacted.
    :param body: the decoded reply body (not shown by ``str``/``repr``).
    :param request_id: the ``Render-Request-Id`` reply header, when present.
    :param code: Render's machine-readable ``code``, present on some errors only.
    :param retry_after: seconds the server asked us to wait, when it said so.
    """

    def __init__(self, method: str, path: str, status: int | None = None, message: str = "", *,
                 body: Any = None, request_id: str | None = None, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(method, path, status, message)
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        self.body = body
        self.request_id = request_id
        self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        outcome = "no reply" if self.status is None else str(self.status)
        line = f"{self.method} {self.path} -> {outcome}: {self.message or 'no message'}"
        if self.code:
            line += f" [{self.code}]"
        if self.retry_after is not None:
            line += f" (retry after {self.retry_after:g}s)"
        if self.request_id:
            line += f" (request {self.request_id})"
        return line

    def __repr__(self) -> str:
        fields = ["method", "path", "status", "message", "code", "request_id", "retry_after"]
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields
                          if getattr(self, name) is not None or name == "status")
        return f"{type(self).__name__}({shown})"

    def __reduce__(self):
        # Keyword-only fields defeat Exception's default pickling, which replays positional args only.
        return _rebuild, (type(self), self.__dict__.copy())


def _rebuild(cls: type, state: dict) -> RenderAPIError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    return error


class RenderBadRequest(RenderAPIError):
    """400/422: Render rejected the request itself (a field is invalid or missing)."""


class RenderAuthError(RenderAPIError):
    """401/403: the API key is missing, wrong, or may not touch this resource."""


class RenderNotFound(RenderAPIError):
    """404: no such resource (DELETE callers treat this as already done)."""


class RenderConflict(RenderAPIError):
    """409: the resource's current state conflicts with the request."""


class RenderRateLimited(RenderAPIError):
    """429: too many requests; ``retry_after`` holds the server's hint in seconds, when given."""


class RenderServerError(RenderAPIError):
    """5xx: Render failed on its side."""


class RenderConnectionError(RenderAPIError):
    """No reply: the connection failed or timed out (``status`` is ``None``)."""


_BY_STATUS = {400: RenderBadRequest, 422: RenderBadRequest, 401: RenderAuthError, 403: RenderAuthError,
              404: RenderNotFound, 409: RenderConflict, 429: RenderRateLimited}


def error_class(status: int | None) -> type[RenderAPIError]:
    """Map an HTTP status (``None`` = no reply) to the error class for it."""
    if status is None:
        return RenderConnectionError
    if status >= 500:
        return RenderServerError
    return _BY_STATUS.get(status, RenderAPIError)


def error_from_reply(method: str, path: str, status: int, text: str, *, reason: str = "",
                     request_id: str | None = None, retry_after: float | None = None,
                     secrets: Iterable[str] = ()) -> RenderAPIError:
    """Build the right error for an HTTP error reply whose body is ``text`` (Render's ``{id?, message?, code?}``).

    Every secret in ``secrets`` and every URL password is redacted from the message.
    """
    secrets = tuple(secrets)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = text
    message = code = None
    if isinstance(body, dict):
        message, code = body.get("message"), body.get("code")
    if not isinstance(message, str) or not message.strip():
        message = text if isinstance(body, str) and text.strip() else reason
    message = redact(message, secrets)
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    cls = error_class(status)
    return cls(method, path, status, message, body=body, request_id=request_id,
               code=code if isinstance(code, str) else None, retry_after=retry_after)
