"""``python -m localrender``: flags, the key from the environment, fault flags, a real run that stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from localrender.__main__ import build, fault_specs, main, parse_args

ROOT = Path(__file__).resolve().parents[2]


def test_fault_flags_become_fault_rules():
    args = parse_args(["--api-key", "k", "--fault", "status=503,share=0.2", "--latency", "0.5",
                       "--fail-nth", "3:429", "--fail-share", "0.1:500", "--lose-create-reply", "timeout",
                       "--postgres-stuck-creating"])
    assert fault_specs(args) == [
        {"status": 503, "share": 0.2}, {"latency": 0.5}, {"nth": 3, "status": 429}, {"share": 0.1, "status": 500},
        {"lose_reply": "timeout", "method": "POST", "path": "/v1/postgres", "times": 1},
        {"stuck_creating": True, "method": "POST", "path": "/v1/postgres", "times": 1},
    ]


def test_build_takes_the_key_from_the_environment_and_applies_limits(monkeypatch):
    monkeypatch.setenv("LOCALRENDER_API_KEY", "from-env")
    server = build(parse_args(["--port", "0", "--rate-limit", "get=5/10", "--fault", "status=500,nth=2"]))
    assert server.limits.limits["get"] == (5, 10.0)
    assert server.faults.list()[0]["nth"] == 2


@pytest.mark.parametrize("argv, message", [
    (["--port", "0"], "no API key"),
    (["--port", "0", "--api-key", "k", "--fault", "status=418"], "fault status"),
    (["--port", "0", "--api-key", "k", "--rate-limit", "gets=1/1"], "unknown rate-limit bucket"),
])
def test_bad_invocations_exit_1_with_one_line(monkeypatch, capsys, argv, message):
    monkeypatch.delenv("LOCALRENDER_API_KEY", raising=False)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit) as caught:
        parse_args(["-h"])
    assert caught.value.code == 0
    assert "example:" in capsys.readouterr().out


def test_a_real_run_serves_saves_state_and_never_prints_the_key(tmp_path):
    key = "rnd_cliSecretKey123"
    state = tmp_path / "render.yaml"
    env = {**os.environ, "LOCALRENDER_API_KEY": key, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "localrender", "--port", "0", "--state", str(state)],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any("serving" in line for line in lines):
            lines.append(proc.stderr.readline())
        base = re.search(r"serving (\S+/v1)", lines[-1]).group(1)
        session = requests.Session()
        session.trust_env = False
        reply = session.put(f"{base}/services/srv-d4mdlocalrendertasks/env-vars/A", json={"value": "1"},
                            headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert reply.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert key not in "".join(lines) + rest
    assert "key: A" in state.read_text()
