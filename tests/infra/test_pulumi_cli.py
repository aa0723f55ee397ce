"""The program under the real Pulumi CLI: `pulumi preview` and `pulumi up` on a local file backend, against localrender.

Needs the `pulumi` binary (and its command plugin) on PATH, which no package registry reachable from the development
machines provides; elsewhere (CI with internet, a laptop) it runs. The project is copied to a scratch directory so
that `pulumi stack init` and `pulumi config set` never touch the committed stack files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra import rehearse

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ["db", "maintenance-on", "migrate-deploy", "import", "database-url", "deploy", "smoke", "maintenance-off"]

pytestmark = [
    pytest.mark.pulumi_cli, pytest.mark.slow,
    pytest.mark.skipif(shutil.which("pulumi") is None,
                       reason="the pulumi CLI is not on PATH (no registry reachable here ships it; see "
                              "shared/reference/pulumi.md section 7); tests/test_e2e.py runs the program through "
                              "infra/local_engine.py instead"),
]


def project_copy(tmp_path: Path, config: dict) -> Path:
    """The project (program, tools, Pulumi.yaml, stack files) in a scratch dir, prd's config written in plain
    except the API key, which the caller sets encrypted."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("infra", "migrate", "localrender"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Pulumi.yaml", "Pulumi.stg.yaml", "requirements.txt"):
        shutil.copy(ROOT / name, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    plain = {key: value for key, value in config.items() if not key.endswith(":renderApiKey")}
    (copy / "Pulumi.prd.yaml").write_text(yaml.safe_dump({"config": plain}))
    return copy


def pulumi(copy: Path, env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=copy, env=env, input=stdin,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"pulumi {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_preview_plans_the_chain_and_up_runs_it_once(tmp_path, pg_cluster):
    with rehearse.rehearsal(300, cluster=pg_cluster, workdir=tmp_path) as run:
        copy = project_copy(tmp_path, run.config())
        env = {**os.environ, "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}", "PULUMI_SKIP_UPDATE_CHECK": "true",
               "PULUMI_CONFIG_PASSPHRASE": "rehearsal-only"}
        (tmp_path / "state").mkdir()
        pulumi(copy, env, "stack", "init", "prd", "--secrets-provider", "passphrase")
        pulumi(copy, env, "config", "set", "--secret", "renderApiKey", "--stack", "prd", stdin=run.api_key)

        preview = json.loads(pulumi(copy, env, "preview", "--stack", "prd", "--json").stdout)
        planned = [s["urn"].split("::")[-1] for s in preview["steps"] if s["op"] == "create"]
        assert [name for name in planned if name in CHAIN] == CHAIN
        assert run.api_key not in json.dumps(preview)

        pulumi(copy, env, "up", "--stack", "prd", "--yes", "--skip-preview")
        outputs = json.loads(pulumi(copy, env, "stack", "output", "--stack", "prd", "--json").stdout)
        assert outputs["cutover_chain"] == CHAIN and outputs["database_internal_url"] == "[secret]"
        # Nothing changed, so nothing runs again: no import, no deploy, no smoke.
        pulumi(copy, env, "preview", "--stack", "prd", "--expect-no-changes")
