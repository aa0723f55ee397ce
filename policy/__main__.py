"""The tasks-cutover policy pack; the rules live in rules.py (this constructor serves gRPC and never returns)."""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The pack runs as a program from this directory; make rules.py importable however it is started.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import POLICIES  # noqa: E402  (after the path set-up above)

PolicyPack(name="tasks-cutover-guardrails", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
