"""The reports on stdout (short, human) and as JSON (``--json-report FILE``, for machines)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .verify import Verification


def _echo(line: str = "") -> None:
    print(line, file=sys.stdout)


def print_plan(plan, bad: dict) -> None:
    for line in plan.describe():
        _echo(line)
    for table, exc in bad.items():
        _echo(f"problem: {exc}")
    if not plan.problems and not bad:
        _echo(f"no problems: {sum(t.rows for t in plan.tables):,} rows in {len(plan.tables)} tables can be imported")


def print_import(result, verification: Verification | None) -> None:
    status = {}
    if verification is not None:
        differing = {m.table for m in verification.mismatches}
        status = {t: ("DIFFERS" if t in differing else "ok") for t in verification.source}
    _echo(f"{'table':<16} {'rows':>12} {'seconds':>8} {'rows/s':>10}  verified")
    for t in result.tables:
        _echo(f"{t.table:<16} {t.rows:>12,} {t.seconds:>8.2f} {t.rows_per_s:>10,.0f}  {status.get(t.table, '-')}")
    verb = "imported" if result.committed else "sent"
    line = (f"{verb} {result.rows:,} rows in {result.seconds:.2f}s ({result.rows_per_s:,.0f} rows/s; "
            f"copy {result.copy_seconds:.2f}s, constraints and indexes {result.rebuild_seconds:.2f}s)")
    _echo(line)
    if not result.committed:
        _echo("rolled back: nothing was imported, the target is as it was")
    if result.nul_stripped:
        _echo(f"NUL bytes stripped: {result.nul_stripped:,}")
    if verification is not None:
        print_verification(verification, within_import=True)


def print_verification(verification: Verification, within_import: bool = False) -> None:
    for mismatch in verification.mismatches:
        _echo(f"differs: {mismatch}")
    # Within an import, the source side was hashed while the rows streamed and the time shown is the target
    # side's, inside the transaction. bench/import_bench.py measures the whole cost against --no-verify.
    extra = " hashing the target before COMMIT" if within_import else ""
    verdict = "no differences" if not verification.mismatches else f"{len(verification.mismatches)} table(s) differ"
    _echo(f"verification: {verdict} in {len(verification.source)} tables, {verification.seconds:.2f}s{extra}")


def print_timings(timings: dict) -> None:
    _echo("timings: " + ", ".join(f"{step} {seconds:.2f}s" for step, seconds in timings.items())
          + f"; total {sum(timings.values()):.2f}s")


def print_smoke(result) -> None:
    for check in result.checks:
        _echo(f"{check.name:<8} {'ok' if check.ok else 'FAILED':<7} {check.detail}")
    _echo(f"smoke: passed after {result.attempts} attempt(s), {result.seconds:.2f}s")


def plan_dict(plan, bad: dict) -> dict:
    return {"tables": [{"source": t.source, "target": t.target, "rows": t.rows,
                        "columns": [{"source": c.source, "target": c.target.name, "type": c.target.type,
                                     "kind": c.kind} for c in t.columns]} for t in plan.tables],
            "untouched": plan.untouched,
            "problems": [str(p) for p in plan.problems] + [str(e) for e in bad.values()]}


def import_dict(result, verification: Verification | None) -> dict:
    doc = {"rows": result.rows, "seconds": round(result.seconds, 3), "rows_per_s": round(result.rows_per_s),
           "copy_seconds": round(result.copy_seconds, 3), "rebuild_seconds": round(result.rebuild_seconds, 3),
           "committed": result.committed, "replaced": result.replaced, "nul_stripped": result.nul_stripped,
           "sequences": result.sequences,
           "tables": [{"table": t.table, "rows": t.rows,
                       "seconds": round(t.seconds, 3), "nul_stripped": t.nul_stripped} for t in result.tables]}
    if verification is not None:
        doc["verification"] = verification_dict(verification)
    return doc


def verification_dict(verification: Verification) -> dict:
    return {"ok": not verification.mismatches, "seconds": round(verification.seconds, 3),
            "tables": {t: {"source_rows": s[0], "target_rows": verification.target.get(t, (None,))[0]}
                       for t, s in verification.source.items()},
            "mismatches": [str(m) for m in verification.mismatches]}


def write_json(path: str | None, doc: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(doc, indent=2, default=str) + "\n")
