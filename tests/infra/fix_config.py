"""Shared helpers and fixtures for the config and guard tests: the committed stack files plus a user's keys."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from infra.config import PROJECT, ConfigError, load_config, read_stack_file

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "fixtures" / "app"
STG_DB_ID = "dpg-d4mdlojuibrs738gqn00-a"
API_KEY = "rnd_Sup3rSecretTestKey0000"  # distinctive, so a leak into any message is caught


def full(values: dict[str, Any]) -> dict[str, Any]:
    """Bare keys as the engine names them: ``tasks-cutover:<key>``."""
    return {f"{PROJECT}:{key}": value for key, value in values.items()}


def user_keys(stack: str, source: Path) -> dict[str, Any]:
    """What a user sets with `pulumi config set` on top of the committed Pulumi.<stack>.yaml."""
    keys = {"renderApiKey": API_KEY, "ownerId": "tea-d4mdlocalrenderteam0",
            "serviceId": f"srv-d4mdtasks{stack}0000000", "appUrl": f"https://tasks-{stack}.onrender.com"}
    if stack == "prd":
        keys.update(appDir=str(APP), **{"import": {"source": str(source)}},
                    database={"ipAllowList": [{"cidrBlock": "203.0.113.7/32", "description": "ops runner"}]})
    return full(keys)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``pulumi config set --path`` semantics: nested mappings merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """An (empty) import source that exists."""
    path = tmp_path / "tasks.db"
    path.write_bytes(b"")
    return path


@pytest.fixture
def stack_config(source: Path):
    """``stack_config(stack, **overrides)``: the committed stack file + the user's keys + overrides (bare keys)."""
    def build(stack: str, **overrides: Any) -> dict[str, Any]:
        committed = read_stack_file(ROOT, stack)
        return merge(merge(committed, user_keys(stack, source)), full(overrides))
    return build


def problems(values: dict[str, Any], stack: str, **kwargs: Any) -> list[str]:
    """The problems ``load_config`` reports (it must refuse), after checking the message lists each one."""
    with pytest.raises(ConfigError) as caught:
        load_config(values, stack, **kwargs)
    assert str(caught.value).count("\n  - ") == len(caught.value.problems)
    return list(caught.value.problems)


def only_problem(values: dict[str, Any], stack: str, **kwargs: Any) -> str:
    found = problems(values, stack, **kwargs)
    assert len(found) == 1, found
    return found[0]
