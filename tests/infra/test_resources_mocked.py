"""The resource classes under pulumi mocks: types, secret outputs registered by the classes, no key in the state.

The construction runs once, in its own process (tests/infra/mocked_resources.py), because mocks are global.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = "rnd_mockedKeyMustNotReachTheState"


@pytest.fixture(scope="module")
def registered() -> dict:
    env = {**os.environ, "RENDER_API_KEY": KEY, "RENDER_API_URL": "http://127.0.0.1:9/v1"}
    done = subprocess.run([sys.executable, "-m", "tests.infra.mocked_resources"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_each_resource_has_its_render_type_token(registered):
    types = {name: r["type"] for name, r in registered.items() if name != "proj-test"}
    assert types == {"db": "pulumi-python:dynamic/render:Postgres",
                     "database-url": "pulumi-python:dynamic/render:ServiceEnvVar",
                     "deploy": "pulumi-python:dynamic/render:ServiceDeploy",
                     "maintenance": "pulumi-python:dynamic/render:MaintenanceMode"}


def test_postgres_connection_strings_are_secret_outputs_even_when_the_program_adds_its_own(registered):
    db = registered["db"]
    assert db["additional_secret_outputs"] == ["dashboard_url", "internal_connection_string",
                                               "external_connection_string"]
    assert db["protect"] is True  # the program's own options survive the merge


def test_env_var_value_and_previous_value_are_secret_outputs_and_the_value_input_stays_secret(registered):
    var = registered["database-url"]
    assert var["additional_secret_outputs"] == ["value", "previous_value"]
    assert "value" in var["secret_inputs"]


def test_deploy_keeps_the_programs_dependencies(registered):
    assert any(d.endswith("::database-url") for d in registered["deploy"]["dependencies"])


def test_serialized_providers_are_secret_references_without_the_key(registered):
    for name in ("db", "database-url", "deploy", "maintenance"):
        record = registered[name]
        blob = base64.b64decode(record["provider_blob"])
        assert record["provider_blob_is_secret"]
        assert b"infra.render." in blob and len(blob) < 120, blob  # pickled by reference: no code inside
        assert KEY.encode() not in blob and b"127.0.0.1" not in blob
