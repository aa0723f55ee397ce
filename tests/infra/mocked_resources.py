"""Constructs every Render resource class under pulumi mocks and prints what reached the engine, as JSON.

Run as ``python -m tests.infra.mocked_resources`` by test_resources_mocked.py: mocks are process-global, so
this construction gets a process of its own and cannot disturb the program's mocks tests.
"""

from __future__ import annotations

import json
import sys

import pulumi
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.rpc import unwrap_rpc_secret

SECRET_SIG = "4dabf18193072939515e22adb298388d"


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(MockMonitor):
    """Keeps every RegisterResourceRequest: resource options are only visible there."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.requests = {}
        self.inputs = {}

    def RegisterResource(self, request):
        self.requests[request.name] = request
        return super().RegisterResource(request)


MONITOR = RecordingMonitor(Mocks())
pulumi.runtime.set_mocks(MONITOR.mocks, project="proj", stack="test", preview=False, monitor=MONITOR)

# Imported after set_mocks, as a program would be.
from infra.render.deploy import ServiceDeploy, ServiceDeployArgs  # noqa: E402
from infra.render.env_var import ServiceEnvVar, ServiceEnvVarArgs  # noqa: E402
from infra.render.maintenance import MaintenanceMode, MaintenanceModeArgs  # noqa: E402
from infra.render.postgres import PostgresArgs, RenderPostgres  # noqa: E402


def _build():
    db = RenderPostgres("db", PostgresArgs(name="tasks-prd-db", owner_id="tea-x", plan="basic_1gb", version="15"),
                        pulumi.ResourceOptions(protect=True, additional_secret_outputs=["dashboard_url"]))
    var = ServiceEnvVar("database-url", ServiceEnvVarArgs(
        service_id="srv-x", key="DATABASE_URL", value=pulumi.Output.secret("postgresql://u:pw@h/db")))
    deploy = ServiceDeploy("deploy", ServiceDeployArgs(service_id="srv-x", triggers=["abc"]),
                           pulumi.ResourceOptions(depends_on=[var]))
    page = MaintenanceMode("maintenance", MaintenanceModeArgs(service_id="srv-x"))
    return [db, var, deploy, page]


def _describe(request) -> dict:
    from google.protobuf.json_format import MessageToDict
    fields = MessageToDict(request.object)
    return {
        "type": request.type,
        "additional_secret_outputs": list(request.additionalSecretOutputs),
        "protect": request.protect,
        "dependencies": list(request.dependencies),
        "input_keys": sorted(fields),
        "secret_inputs": sorted(k for k, v in fields.items() if isinstance(v, dict) and SECRET_SIG in v),
        "provider_blob_is_secret": isinstance(fields.get("__provider"), dict) and SECRET_SIG in fields["__provider"],
        "provider_blob": unwrap_rpc_secret(fields.get("__provider")) if "__provider" in fields else None,
    }


@pulumi.runtime.test
def _run():
    resources = _build()

    def report(_):
        json.dump({name: _describe(req) for name, req in MONITOR.requests.items()}, sys.stdout)

    return pulumi.Output.all(*[r.urn for r in resources]).apply(report)


if __name__ == "__main__":
    _run()
