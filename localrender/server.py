"""``LocalRender``: the server's lifecycle (HTTP thread, lifecycle ticker, local processes) and its handles."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from . import lifecycle, postgres
from .admin import admin_routes
from .app import App
from .context import Context
from .faults import Faults
from .pgadmin import PgAdmin
from .ratelimit import RateLimiter
from .routes import build_map
from .runner import Runner
from .seed import PRIVATE
from .replies import ApiError
from .store import StateError, Store

log = logging.getLogger("localrender")
TICK_SECONDS = 0.02


class _QuietHandler(WSGIRequestHandler):
    """One log line per request with the path only: query strings carry deploy-hook keys."""

    def log_request(self, code="-", size="-"):
        # A request line too broken to parse leaves no path or command behind.
        path = (getattr(self, "path", None) or "-").split("?", 1)[0]
        log.info("%s %s -> %s", getattr(self, "command", None) or "-", path, getattr(code, "value", code))

    def log(self, type, message, *args):  # werkzeug's own lines would include the raw request line
        if type == "error":
            text = message % args if args else message
            log.error("%s", re.sub(r"\?\S*", "?...", text))


class LocalRender:
    """A local Render API on ``http://127.0.0.1:<port>/v1``; ``with LocalRender(key) as lr: ...``.

    :param api_key: the Bearer token every ``/v1`` and ``/_admin`` request must carry (never logged).
    :param state: a dict, a YAML/JSON state file (saved back on every change) or None (default workspace).
    :param pg_admin_url: a superuser URL of a local PostgreSQL cluster; creates real databases when given.
    :param port: 0 picks a free port.
    :param postgres_ready_after: seconds a new Postgres stays ``creating``.
    :param deploy_step_seconds: seconds between deploy states.
    :param validate: check every request and reply against Render's OpenAPI document.
    """

    def __init__(self, api_key: str, state: dict | str | Path | None = None, pg_admin_url: str | None = None,
                 port: int = 0, postgres_ready_after: float = 0.0, deploy_step_seconds: float = 0.0,
                 validate: bool = False, log_dir: Path | None = None):
        if not api_key:
            raise ValueError("an API key is required (LocalRender(api_key=...) or LOCALRENDER_API_KEY)")
        self.faults = Faults()
        self.limits = RateLimiter()
        self._stopping = threading.Event()
        self.ctx = Context(store=Store(state), pg=PgAdmin(pg_admin_url) if pg_admin_url else None,
                           runner=Runner(log_dir), postgres_ready_after=postgres_ready_after,
                           deploy_step_seconds=deploy_step_seconds)
        try:
            postgres.resolve_env_links(self.ctx)
        except ApiError as err:  # a link to a database the state does not hold
            raise StateError(f"state: env var fromDatabase points at a missing database ({err.message})") from None
        checker = None
        if validate:
            from .validation import ContractChecker

            checker = ContractChecker()
        url_map, handlers = build_map(admin_routes(self.faults, self.limits))
        self._app = App(self.ctx, api_key, url_map, handlers, self.limits, self.faults, checker,
                        on_change=self._save, stopping=self._stopping)
        self._port = port
        self._server = None
        self._threads: list[threading.Thread] = []

    # -- handles ---------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_port if self._server else self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/_admin"

    @property
    def state(self) -> dict:
        """A deep copy of the current state, local fields (``x-localrender``) included."""
        return self.ctx.store.snapshot()

    @property
    def violations(self) -> list[str]:
        """Replies that broke the OpenAPI document (only recorded with ``validate=True``)."""
        return self._app.violations

    @property
    def request_violations(self) -> list[str]:
        """Requests that broke the OpenAPI document: the client's doing (tests of bad input cause some)."""
        return self._app.request_violations

    @property
    def runner(self) -> Runner:
        return self.ctx.runner

    def deploy_hook_url(self, service_id: str) -> str:
        with self.ctx.store.lock:
            key = self.ctx.store.service(service_id)[PRIVATE]["deployHookKey"]
        return f"http://127.0.0.1:{self.port}/deploy/{service_id}?key={key}"

    def service_url(self, service_id: str) -> str | None:
        """``http://127.0.0.1:<port>`` of the service's local process, once a deploy has started one."""
        with self.ctx.store.lock:
            return self.ctx.store.service(service_id)[PRIVATE].get("localUrl")

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "LocalRender":
        if self.ctx.pg is not None:
            postgres.ensure_databases(self.ctx)
        self._server = make_server("127.0.0.1", self._port, self._app, threaded=True,
                                   request_handler=_QuietHandler)
        self.ctx.public_url = f"http://127.0.0.1:{self.port}"
        self._stopping.clear()
        lifecycle.resume_live(self.ctx)
        for target, name in ((self._serve, "http"), (self._tick, "ticker")):
            thread = threading.Thread(target=target, daemon=True, name=f"localrender-{name}")
            thread.start()
            self._threads.append(thread)
        log.info("localrender listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, stop the local processes and save the state; safe to call twice."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self.ctx.runner.stop_all()
        self._save()

    def __enter__(self) -> "LocalRender":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def advance(self) -> None:
        """Apply due lifecycle steps now (the ticker does this every 20 ms anyway)."""
        now = self.ctx.clock()
        with self.ctx.store.lock:
            changed = postgres.advance(self.ctx, now) | lifecycle.advance(self.ctx, now)
        if changed:
            self._save()

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)  # a short poll makes stop() quick

    def _tick(self) -> None:
        while not self._stopping.wait(TICK_SECONDS):
            try:
                self.advance()
            except Exception:  # keep ticking: one bad record must not freeze every lifecycle
                log.exception("lifecycle tick failed")

    def _save(self) -> None:
        self.ctx.store.save()
