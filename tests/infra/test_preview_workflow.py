"""Checks of .github/workflows/preview.yml, which cannot run here: GitHub's workflow schema, then the jobs and steps.

The schema is SchemaStore's, as vendored by check-jsonschema (a dev requirement); the structure checks pin
what the workflow is for: unit tests, a `pulumi preview --diff` and `--json` per stack through the official action,
the Markdown tool, and one sticky comment per stack.
"""

from __future__ import annotations

import copy
import json
import re
from importlib import resources

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return data


@pytest.fixture(scope="module")
def schema() -> dict:
    vendored = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "github-workflows.json"
    return json.loads(vendored.read_text())


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def uses(step: dict, action: str) -> bool:
    return step.get("uses", "").split("@")[0] == action


def test_the_workflow_fits_githubs_schema_and_the_check_has_teeth(workflow, schema):
    jsonschema.validate(workflow, schema)
    broken = copy.deepcopy(workflow)
    broken["jobs"]["preview"]["steps"][0] = {"uses": "actions/checkout@v4", "run": "echo both"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_it_runs_on_every_pull_request_with_rights_to_comment(workflow):
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"]["pull-requests"] == "write"


def test_the_tests_job_sets_up_python_311_and_runs_dev_test(workflow):
    job = steps(workflow, "tests")
    [python] = [s for s in job if uses(s, "actions/setup-python")]
    assert python["with"]["python-version"] == "3.11"
    assert any(s.get("run", "").startswith("./dev test") for s in job)


def test_the_preview_job_previews_each_stack_with_the_official_action(workflow):
    job = workflow["jobs"]["preview"]
    assert [entry["stack"] for entry in job["strategy"]["matrix"]["include"]] == ["stg", "prd"]
    assert job["strategy"]["fail-fast"] is False  # one stack's failure must not hide the other's comment
    for name in ("PULUMI_CONFIG_PASSPHRASE", "RENDER_API_KEY"):
        assert job["env"][name] == f"${{{{ secrets.{name} }}}}"
    assert "secrets.PULUMI_BACKEND_URL" in job["env"]["PULUMI_BACKEND_URL"]
    actions = [s for s in job["steps"] if uses(s, "pulumi/actions")]
    assert all(re.fullmatch(r"pulumi/actions@v[67]", s["uses"]) for s in actions)
    [diff] = [s for s in actions if s.get("with", {}).get("command") == "preview"]
    assert diff["with"]["stack-name"] == "${{ matrix.stack }}" and diff["with"]["diff"] is True
    assert diff["with"]["cloud-url"] == "${{ env.PULUMI_BACKEND_URL }}"
    assert any("pulumi preview --json" in s.get("run", "") for s in job["steps"])


def test_the_comment_is_rendered_by_preview_md_and_posted_once_per_stack(workflow):
    job = steps(workflow, "preview")
    names = [s.get("id") or s.get("name") for s in job]
    render = next(i for i, s in enumerate(job) if "-m tools.preview_md" in s.get("run", ""))
    [post] = [i for i, s in enumerate(job) if uses(s, "marocchino/sticky-pull-request-comment")]
    assert names.index("diff") < render < post
    assert "${{ matrix.stack }}" in job[post]["with"]["header"] and job[post]["with"]["path"] == "comment.md"
    # A failed preview is still commented on, then fails the job.
    assert job[names.index("diff")]["continue-on-error"] is True and "exit 1" in job[-1]["run"]


def test_no_run_script_interpolates_step_outputs_or_secrets(workflow):
    # Text from the PR's program (the diff) or a secret inside `run:` would be pasted into the shell script.
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step.get("name")
