"""The workspace state: owners, Postgres instances, services (with env vars and deploys); load and save."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from pathlib import Path

import yaml

from .replies import not_found
from .seed import default_workspace, fill


class StateError(Exception):
    """A state file that cannot be read or written; the message names the file."""


class Store:
    """All records behind one re-entrant lock; ``path`` set means every change is saved back there.

    :param state: a dict (copied), a path to a YAML/JSON file (created from the default workspace when
        missing), or None for the default workspace kept in memory only.
    """

    def __init__(self, state: dict | str | Path | None = None):
        self.lock = threading.RLock()
        self._save_lock = threading.Lock()  # one writer at a time, so an older snapshot never lands last
        self.path: Path | None = None
        if state is None:
            data = default_workspace()
        elif isinstance(state, dict):
            data = copy.deepcopy(state)
        else:
            self.path = Path(state)
            data = _read(self.path) if self.path.exists() else default_workspace()
        try:
            self.data = fill(data)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise StateError(f"state {self.path or 'dict'}: malformed record ({type(exc).__name__}: {exc})") from None

    # -- lookups (callers hold the lock) ---------------------------------------------------------
    def owner(self, owner_id: str) -> dict:
        return _find(self.data["owners"], owner_id)

    def postgres(self, postgres_id: str) -> dict:
        return _find(self.data["postgres"], postgres_id)

    def service(self, service_id: str) -> dict:
        return _find(self.data["services"], service_id)

    def snapshot(self) -> dict:
        with self.lock:
            return copy.deepcopy(self.data)

    # -- persistence ------------------------------------------------------------------------------
    def save(self) -> None:
        """Write the state atomically (temp file + rename) when it came from a file."""
        if self.path is None:
            return
        with self._save_lock:
            self._write()

    def _write(self) -> None:
        with self.lock:
            text = (json.dumps(self.data, indent=2) if self.path.suffix == ".json"
                    else yaml.safe_dump(self.data, sort_keys=False))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            # The state holds database passwords: keep it private to this user.
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise StateError(f"cannot write state file {self.path}: {exc.strerror}") from None


def _find(records: list[dict], record_id: str) -> dict:
    for record in records:
        if record["id"] == record_id:
            return record
    raise not_found(record_id)


def _read(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as exc:
        raise StateError(f"cannot read state file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise StateError(f"state file {path} is not valid {kind}: "
                         f"{str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StateError(f"state file {path} must hold a mapping with owners/postgres/services, "
                         f"got {type(data).__name__}")
    for kind in ("owners", "postgres", "services"):
        if not isinstance(data.get(kind, []), list):
            raise StateError(f"state file {path}: '{kind}' must be a list")
    return data
