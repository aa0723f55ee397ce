"""docs/runbook.md stays true: every `python -m ...` command in it parses with the flags it shows."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

RUNBOOK = Path(__file__).resolve().parent.parent / "docs" / "runbook.md"
# Module -> where its argument parser is built.
PARSERS = {"migrate": "migrate.cli", "infra.rollback": "infra.rollback", "tools.preview_md": "tools.preview_md",
           "infra.rehearse": "infra.rehearse"}


def runbook_commands() -> list[str]:
    """Each `python -m ...` invocation in the runbook's shell blocks, without its pipes and redirections."""
    blocks = re.findall(r"```sh\n(.*?)```", RUNBOOK.read_text(), re.S)
    commands = []
    for line in "\n".join(blocks).splitlines():
        for part in re.split(r"\s*(?:\||>|&&)\s*", line.split(" #")[0]):
            match = re.search(r"python -m (\S+)(.*)", part)
            if match:
                commands.append(f"{match.group(1)}{match.group(2)}".strip())
    return commands


def test_the_runbook_shows_the_commands_of_every_phase():
    modules = {c.split()[0] for c in runbook_commands()}
    assert {"migrate", "infra.rollback", "tools.preview_md"} <= modules


@pytest.mark.parametrize("command", runbook_commands())
def test_runbook_command_parses(command):
    module, *argv = shlex.split(command)
    parser = importlib.import_module(PARSERS[module]).build_parser()
    parser.parse_args(argv)  # argparse exits 2 (a failing test) on an unknown flag or a missing value
