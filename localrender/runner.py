"""Services that run: one local process per service, (re)started when a deploy goes live, stopped with the server."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

log = logging.getLogger("localrender")


class _Process:
    def __init__(self, popen: subprocess.Popen, port: int, health_path: str, log_path: Path):
        self.popen, self.port, self.health_path, self.log_path = popen, port, health_path, log_path
        self.ready = threading.Event()


class Runner:
    """Starts a service's ``startCommand`` through ``/bin/sh -c`` in its own process group.

    The process gets the caller's environment, then the service's env vars, then ``PORT``. It counts as
    ready once ``http://127.0.0.1:PORT<healthCheckPath>`` answers below 400 (any answer when the path is
    empty). Output goes to ``<log_dir>/<service id>.log``.
    """

    def __init__(self, log_dir: Path | None = None):
        self._log_dir = Path(log_dir) if log_dir else None
        self._procs: dict[str, _Process] = {}
        self._lock = threading.Lock()

    def start(self, service_id: str, command: str, env: dict, port: int, health_path: str = "",
              cwd: str | None = None) -> None:
        """Stop whatever runs for the service, then start ``command``; returns at once (see :meth:`status`)."""
        self.stop(service_id)
        log_path = self.log_path(service_id)
        full_env = {**os.environ, **env, "PORT": str(port)}
        with open(log_path, "ab") as out:
            popen = subprocess.Popen(["/bin/sh", "-c", command], env=full_env, cwd=cwd, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        proc = _Process(popen, port, health_path, log_path)
        with self._lock:
            self._procs[service_id] = proc
        threading.Thread(target=self._watch, args=(proc,), daemon=True, name=f"probe-{service_id}").start()
        log.info("started %s (pid %d, port %d)", service_id, popen.pid, port)

    def status(self, service_id: str) -> str:
        """``ready``, ``starting``, ``exited`` or ``stopped`` (nothing running)."""
        with self._lock:
            proc = self._procs.get(service_id)
        if proc is None:
            return "stopped"
        if proc.popen.poll() is not None:
            return "exited"
        return "ready" if proc.ready.is_set() else "starting"

    def port(self, service_id: str) -> int | None:
        with self._lock:
            proc = self._procs.get(service_id)
        return proc.port if proc else None

    def pid(self, service_id: str) -> int | None:
        with self._lock:
            proc = self._procs.get(service_id)
        return proc.popen.pid if proc and proc.popen.poll() is None else None

    @property
    def log_dir(self) -> Path:
        """Created on first use (a temporary directory unless one was given)."""
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="localrender-logs-"))
        self._log_dir.mkdir(parents=True, exist_ok=True)
        return self._log_dir

    def log_path(self, service_id: str) -> Path:
        return self.log_dir / f"{service_id}.log"

    def stop(self, service_id: str, grace: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
        with self._lock:
            proc = self._procs.pop(service_id, None)
        if proc is None or proc.popen.poll() is not None:
            return
        _signal_group(proc.popen, signal.SIGTERM)
        try:
            proc.popen.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.popen, signal.SIGKILL)
            proc.popen.wait()
        log.info("stopped %s", service_id)

    def stop_all(self) -> None:
        with self._lock:
            ids = list(self._procs)
        for service_id in ids:
            self.stop(service_id)

    @staticmethod
    def _watch(proc: _Process) -> None:
        url = f"http://127.0.0.1:{proc.port}{proc.health_path or '/'}"
        session = requests.Session()
        session.trust_env = False  # a proxy from the environment must not stand between us and 127.0.0.1
        while proc.popen.poll() is None:
            try:
                reply = session.get(url, timeout=1)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if reply.status_code < 400 or not proc.health_path:
                proc.ready.set()
                return
            time.sleep(0.1)


def _signal_group(popen: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(popen.pid, sig)
    except ProcessLookupError:
        pass
