"""The WSGI application: auth, rate limits, faults, dispatch, contract checks and lost replies."""

from __future__ import annotations

import hmac
import logging
import socket
import threading

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from .replies import ApiError, json_reply, random_token

log = logging.getLogger("localrender")


class App:
    """Serves ``/v1`` (Bearer auth), ``/deploy/<id>`` (the hook's key instead) and ``/_admin`` (Bearer auth)."""

    def __init__(self, ctx, api_key: str, url_map, handlers: dict, limiter, faults, checker=None,
                 on_change=None, stopping: threading.Event | None = None):
        self.ctx, self._key, self.url_map, self.handlers = ctx, api_key, url_map, handlers
        self.limiter, self.faults, self.checker = limiter, faults, checker
        self.on_change = on_change or (lambda: None)
        self.stopping = stopping or threading.Event()
        self.violations: list[str] = []
        self.request_violations: list[str] = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path.startswith("/v1/") or path == "/v1":
            response = self._api(request)
        elif path.startswith("/_admin"):
            response = self._dispatch(request) if self._authorized(request) else _unauthorized()
        else:
            response = self._dispatch(request, rate_limited=True)
        response.headers["Render-Request-Id"] = "req-" + random_token(20)
        lost = request.environ.get("localrender.lost", False)
        if self.checker is not None and path.startswith("/v1") and not lost:
            self._check(request, response)
        if method not in ("GET", "HEAD") and response.status_code < 300:
            self.on_change()
        return response

    def _api(self, request: Request) -> Response:
        if not self._authorized(request):
            return _unauthorized()
        allowed, headers = self.limiter.hit(request.method, request.path)
        if not allowed:
            return json_reply(429, {"message": "rate limit exceeded"}, headers)
        decision = self.faults.decide(request.method, request.path)
        if decision.latency and self.stopping.wait(decision.latency):
            return json_reply(503, {"message": "server is shutting down"}, headers)
        if decision.status is not None:
            return _fault_reply(decision, headers)
        request.environ["localrender.decision"] = decision
        response = self._dispatch(request)
        response.headers.extend(headers)
        # Only a POST that made something (Postgres, deploy, rollback) can lose its reply; the rule's
        # method/path filter picks which.
        if decision.lose_reply and request.method == "POST" and response.status_code < 300:
            return self._lose(request, decision)
        return response

    def _dispatch(self, request: Request, rate_limited: bool = False) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return json_reply(404, {"message": "not found"})
        except MethodNotAllowed:
            return json_reply(405, {"message": f"method {request.method} not allowed on {request.path}"})
        if rate_limited:
            allowed, headers = self.limiter.hit(request.method, request.path)
            if not allowed:
                return json_reply(429, {"message": "rate limit exceeded"}, headers)
        try:
            return self.handlers[endpoint](self.ctx, request, **args)
        except ApiError as err:
            return json_reply(err.status, {"message": err.message})
        except Exception as exc:  # a bug in localrender: say so without leaking details into the reply
            log.exception("unhandled %s in %s %s", type(exc).__name__, request.method, request.path)
            return json_reply(500, {"message": "internal server error"})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._key.encode())

    def _lose(self, request: Request, decision) -> Response:
        """The resource exists now; the client never learns it (dropped connection, 500, or a stall)."""
        log.info("fault: losing the reply to %s %s (%s)", request.method, request.path, decision.lose_reply)
        request.environ["localrender.lost"] = decision.lose_reply != "500"
        self.on_change()  # the resource was made: persist it although the client hears nothing good
        if decision.lose_reply == "500":
            return json_reply(500, {"message": "internal server error"})
        if decision.lose_reply == "timeout":
            self.stopping.wait(decision.hold)
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return Response(b"", status=500)

    def _check(self, request: Request, response: Response) -> None:
        bad_request = self.checker.request_errors(request)
        self.request_violations.extend(bad_request)
        body = b"".join(response.iter_encoded()) if not response.is_streamed else b""
        errors = self.checker.response_errors(request, response.status_code, response.headers, body)
        if bad_request:
            # The document only describes replies to valid requests: for an invalid one the status code
            # (e.g. a 400 where none is listed) is ours to choose, the body shape still is not.
            errors = [e for e in errors if "ResponseNotFound" not in e]
        self.violations.extend(errors)


def _unauthorized() -> Response:
    return json_reply(401, {"message": "unauthorized"})


def _fault_reply(decision, headers: dict) -> Response:
    headers = dict(headers)
    if decision.status == 429:
        headers.update({"Retry-After": str(decision.retry_after), "Ratelimit-Remaining": "0",
                        "Ratelimit-Reset": str(decision.retry_after)})
        return json_reply(429, {"message": "rate limit exceeded"}, headers)
    message = "internal server error" if decision.status == 500 else "service unavailable"
    return json_reply(decision.status, {"message": message}, headers)
