"""A tiny web service for localrender to run: it tells which release it was started as and what DATABASE_URL it got.

localrender starts a service's ``x-localrender.startCommand`` when a deploy reaches ``update_in_progress`` and
keeps each deploy's command, so a rollback starts the *target's* command again: giving each "build" its own
``--release`` makes the running release observable, and ``/db`` shows which real database the process reaches.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import requests

APP = textwrap.dedent("""
    import http.server, json, os, sys
    RELEASE = sys.argv[sys.argv.index("--release") + 1]
    if os.environ.get("CRASH"):  # a release that dies at start (localrender must report update_failed)
        sys.exit(3)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            answer = {"release": RELEASE, "database_url": os.environ.get("DATABASE_URL"), "pid": os.getpid()}
            if self.path == "/db":
                import psycopg
                with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=5) as conn:
                    answer["database"] = conn.execute("SELECT current_database()").fetchone()[0]
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
""")


def write_app(directory: Path) -> Path:
    script = Path(directory) / "service_app.py"
    script.write_text(APP)
    return script


def start_command(script: Path, release: str) -> str:
    """The command of one "build" of the app."""
    return f"{sys.executable} {script} --release {release}"


def set_build(server, service_id: str, command: str) -> None:
    """What a new commit does on Render: the next deploy runs a new build (localrender has no API for it)."""
    with server.ctx.store.lock:
        service = next(s for s in server.ctx.store.data["services"] if s["id"] == service_id)
        service["x-localrender"]["startCommand"] = command


def ask(server, service_id: str, path: str = "/", timeout: float = 10.0) -> dict:
    """The running release's answer (retried while it starts)."""
    session = requests.Session()
    session.trust_env = False  # no proxy between us and 127.0.0.1
    deadline = time.monotonic() + timeout
    while True:
        url = server.service_url(service_id)
        try:
            if url:
                return session.get(f"{url}{path}", timeout=5).json()
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the service {service_id} did not answer {path} within {timeout}s")
        time.sleep(0.05)
