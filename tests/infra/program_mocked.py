"""Runs infra/__main__.py under recording pulumi mocks and prints what reached the engine, as JSON.

Run as ``python -m tests.infra.program_mocked < runs.json`` by test_program.py, where runs.json is a list of
``{"stack", "config", "secret_keys"}``. Mocks are process-global, so a program that declares resources gets a
process of its own (test_program.py starts one per committed stack file); runs that stop at the config may share
one. Each run goes through infra.local_engine.run_program, which is how the language host runs the program.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pulumi
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.mocks import MockMonitor

from infra.local_engine import is_secret, reveal, run_program, Secrets

ROOT = Path(__file__).resolve().parents[2]
FAKE_OUTPUTS = {
    "pulumi-python:dynamic/render:Postgres": {
        "status": "available", "dashboard_url": "https://dashboard.render.com/d/dpg-mocked0000-a",
        "internal_connection_string": "postgresql://tasks:MockPassw0rd@dpg-mocked0000-a/tasks_ab12",
        "external_connection_string": "postgresql://tasks:MockPassw0rd@dpg-mocked0000-a.oregon-postgres.render.com/t"},
    "pulumi-python:dynamic/render:ServiceEnvVar": {"previous_value": "postgresql://old:OldPassw0rd@old/db",
                                                   "had_previous": True},
    "pulumi-python:dynamic/render:ServiceDeploy": {"deploy_id": "dep-mocked", "previous_deploy_id": "dep-before",
                                                   "status": "live",
                                                   "dashboard_url": "https://dashboard.render.com/web/x/deploys/y"},
    "command:local:Command": {"stdout": "done", "stderr": ""},
}


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outs = {**args.inputs, **FAKE_OUTPUTS.get(args.typ, {})}
        if args.typ.endswith(":ServiceEnvVar") and args.inputs.get("restore_previous"):
            outs["value"] = outs["previous_value"]  # as the provider reports it: the key keeps its previous value
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(MockMonitor):
    """Keeps every RegisterResourceRequest (resource options are only visible there), in registration order."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.requests = []
        self._lock = threading.Lock()

    def RegisterResource(self, request):
        if request.type != "pulumi:pulumi:Stack":
            with self._lock:
                self.requests.append(request)
        return super().RegisterResource(request)


def describe(request) -> dict:
    inputs = MessageToDict(request.object)
    return {
        "name": request.name,
        "type": request.type,
        "dependencies": sorted(urn.split("::")[-1] for urn in request.dependencies),
        "protect": request.protect,
        "retain_on_delete": request.retainOnDelete,
        "additional_secret_outputs": list(request.additionalSecretOutputs),
        "replace_on_changes": list(request.replaceOnChanges),
        "secret_inputs": sorted(k for k, v in inputs.items() if is_secret(v)),
        "inputs": {k: v for k, v in reveal(inputs, Secrets()).items() if k != "__provider"},
    }


def run(stack: str, config: dict, secret_keys: list[str]) -> dict:
    monitor = RecordingMonitor(Mocks())
    error, outputs, secret = run_program(ROOT, stack, config, secret_keys, monitor.mocks, monitor)
    return {
        "error": None if error is None else {"type": type(error).__name__, "message": str(error)},
        "resources": [describe(r) for r in monitor.requests],
        "outputs": {k: ("[secret]" if k in secret else v) for k, v in outputs.items()},
        "secret_outputs": sorted(secret),
    }


if __name__ == "__main__":
    runs = json.load(sys.stdin)
    json.dump([run(r["stack"], r["config"], r.get("secret_keys", ["renderApiKey"])) for r in runs], sys.stdout)
