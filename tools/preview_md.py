"""Turn `pulumi preview --json` into a Markdown table for a pull request, secrets masked, database losses loud."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, TextIO

from infra.render.errors import redact

DATABASE_TYPES = frozenset({"pulumi-python:dynamic/render:Postgres"})
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker key for a secret value in serialized state
# Fields whose values may be shown (still only short, non-secret scalars): sizes, places, versions, ids.
SHOWN = frozenset({"plan", "region", "version", "name", "owner_id", "service_id", "database_name", "database_user",
                   "disk_size_gb", "high_availability", "adopt_id", "allow_replace", "clear_cache", "enabled",
                   "num_instances"})
SENSITIVE = re.compile(r"pass|secret|token|ur[li]|dsn|connection|credential|api_?key|private|value|cert|env",
                       re.IGNORECASE)
MAX_VALUE = 40
# "password=..." / "token: ..." in free text (diagnostics, the raw diff).
_ASSIGNED_SECRET = re.compile(r"(?i)(password|passwd|secret|token|api_?key)(\s*[=:]\s*)[^\s,;'\"]+")
MAX_MESSAGE = 300
MAX_DETAILS = 50_000  # GitHub refuses comments over 65,536 characters
# The operation shown for a resource with several steps: the most consequential one wins.
_REPLACE_OPS = ("replace", "create-replacement", "delete-replaced", "discard-replaced", "read-replacement",
                "import-replacement")
_RANK = {**{op: 6 for op in _REPLACE_OPS}, "delete": 5, "discard": 5, "create": 4, "import": 4, "read": 3,
         "update": 2, "refresh": 1, "same": 0}
_SUMMARY = (("create", "to create"), ("update", "to update"), ("replace", "to replace"), ("delete", "to delete"),
            ("same", "unchanged"))


class PreviewError(Exception):
    """The input is not a `pulumi preview --json` document; one line."""


@dataclass
class Row:
    """One resource of the preview."""

    name: str
    type: str
    op: str
    fields: list[str] = field(default_factory=list)
    replace_reasons: list[str] = field(default_factory=list)

    @property
    def is_database_loss(self) -> bool:
        return self.type in DATABASE_TYPES and self.op in ("replace", "delete")


def load(text: str) -> dict:
    """The preview document.

    :raises PreviewError: for empty input, invalid JSON, or JSON that is not an object with ``steps``.
    """
    if not text.strip():
        raise PreviewError("the input is empty (did `pulumi preview --json` stop before printing?)")
    try:
        doc = json.loads(text)
    except ValueError as error:
        raise PreviewError(f"the input is not JSON: {error}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("steps", []), list):
        raise PreviewError("the input is not a `pulumi preview --json` document (no list of steps)")
    return doc


def rows(doc: dict, *, show_same: bool = False) -> list[Row]:
    """One row per resource (steps grouped by URN, in order of first appearance)."""
    grouped: dict[str, Row] = {}
    for step in doc.get("steps") or []:
        urn = step.get("urn") or "?"
        op = step.get("op") or "?"
        row = grouped.get(urn)
        if row is None:
            row = grouped[urn] = Row(_name(urn), _type(step, urn), _display_op(op))
        elif _RANK.get(op, 0) > _RANK.get(row.op, 0):  # "replace" ranks as its whole group
            row.op = _display_op(op)
        _merge(row.fields, changed_fields(step))
        _merge(row.replace_reasons, [str(r) for r in step.get("replaceReasons") or []])
    return [r for r in grouped.values() if show_same or r.op != "same"]


def changed_fields(step: dict) -> list[str]:
    """Field names (with ``old → new`` for harmless values) that this step changes.

    Python dynamic resources send no detailed diff, so the names come from ``diffReasons``, else the keys of
    ``detailedDiff``, else a comparison of ``oldState.inputs`` with ``newState.inputs``.
    """
    old = ((step.get("oldState") or {}).get("inputs")) or {}
    new = ((step.get("newState") or {}).get("inputs")) or {}
    if step.get("op") in ("create", "delete", "same", "read", "refresh"):
        return []
    names = [str(n) for n in step.get("diffReasons") or []] or [str(k) for k in step.get("detailedDiff") or {}]
    if not names:
        names = sorted(k for k in set(old) | set(new) if not k.startswith("__") and old.get(k) != new.get(k))
    return [_describe(n, old.get(n), new.get(n)) for n in names]


def sensitive_strings(doc: Any) -> set[str]:
    """Every string in the document that is a secret or sits under a sensitive-looking key (to strip from text)."""
    found: set[str] = set()
    if isinstance(doc, dict):
        if SECRET_SIG in doc:
            found |= _strings(doc)
        else:
            for key, value in doc.items():
                found |= _strings(value) if SENSITIVE.search(str(key)) else sensitive_strings(value)
    elif isinstance(doc, list):
        for item in doc:
            found |= sensitive_strings(item)
    return {s for s in found if len(s) >= 6}


def render(doc: dict, *, stack: Optional[str] = None, details: Optional[str] = None,
           show_same: bool = False) -> str:
    """The whole comment: heading, database warning, table, summary, diagnostics, raw diff."""
    table = rows(doc, show_same=show_same)
    hidden = sensitive_strings(doc)
    out = [f"### Pulumi preview{f': `{_cell(stack)}`' if stack else ''}", ""]
    out += _warning([r for r in table if r.is_database_loss])
    if table:
        out += ["| Resource | Type | Operation | Changed fields | Replace reasons |", "|---|---|---|---|---|"]
        out += [f"| `{_cell(r.name)}` | `{_cell(_short(r.type))}` | {_op_cell(r)} | {_list_cell(r.fields)} | "
                f"{_list_cell(r.replace_reasons, code=True)} |" for r in table]
    else:
        out.append("No resource changes.")
    out += ["", summary(doc, table)]
    out += _diagnostics(doc, hidden)
    if details is not None:
        out += _details(details, hidden)
    out.append("")
    out.append("<sub>Values are shown only for " + ", ".join(sorted(SHOWN)) + "; every other value is masked."
               "</sub>")
    return "\n".join(out) + "\n"


def summary(doc: dict, table: list[Row]) -> str:
    """``**Plan:** 1 to create, 2 to update, ...`` from ``changeSummary`` (else counted from the steps)."""
    counts = doc.get("changeSummary")
    source = ""
    if not isinstance(counts, dict) or not counts:
        counts = Counter(r.op for r in rows(doc, show_same=True))
        source = " (counted from the steps: the preview gave no change summary)"
    parts = [f"{counts[op]} {label}" for op, label in _SUMMARY if counts.get(op)]
    parts += [f"{n} {op}" for op, n in sorted(counts.items()) if op not in dict(_SUMMARY) and n]
    # A step the engine refused (a protected delete) is listed but not counted: say so, never drop it.
    planned = Counter(r.op for r in table)
    missed = [f"{n - counts.get(op, 0)} {op}" for op, n in sorted(planned.items()) if n > counts.get(op, 0)]
    if missed and not source:
        source = f"; the steps also hold {', '.join(missed)} that the summary leaves out (refused? see the errors)"
    return f"**Plan:** {', '.join(parts) or 'no changes'}{source}"


def _warning(losses: list[Row]) -> list[str]:
    if not losses:
        return []
    lines = ["> [!CAUTION]", "> **⚠️ DATABASE DELETE OR REPLACE.** This plan would destroy a Render Postgres "
             "database and the data in it. Do not merge unless the data has been moved and this is intended.", ">"]
    for row in losses:
        why = f" because of {_list_cell(row.replace_reasons, code=True)}" if row.replace_reasons else ""
        lines.append(f"> - `{_cell(row.name)}`: **{row.op}**{why}")
    return lines + [""]


def _diagnostics(doc: dict, hidden: set[str]) -> list[str]:
    shown = [d for d in doc.get("diagnostics") or [] if (d.get("severity") or "").startswith(("error", "warning"))]
    if not shown:
        return []
    lines = ["", "**Errors and warnings:**", ""]
    for diag in shown:
        where = f"`{_cell(_name(diag['urn']))}`: " if diag.get("urn") else ""
        severity = str(diag.get("severity") or "")
        message = _clean(str(diag.get("message") or ""), hidden).removeprefix(f"{severity}: ")
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + "..."
        lines.append(f"- **{_cell(severity)}** {where}{_cell(message)}")
    return lines


def _details(text: str, hidden: set[str]) -> list[str]:
    text = "\n".join(_clean(line, hidden) for line in text.splitlines())
    if len(text) > MAX_DETAILS:
        text = text[:MAX_DETAILS] + "\n... (cut: see the job log for the rest)"
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return ["", "<details><summary>pulumi preview --diff</summary>", "", fence, text, fence, "", "</details>", ""]


def _clean(text: str, hidden: Iterable[str]) -> str:
    # Longest first, so a secret containing a shorter one is removed whole.
    text = redact(text, sorted(hidden, key=len, reverse=True))
    return _ASSIGNED_SECRET.sub(r"\1\2***", text)


def _describe(name: str, old: Any, new: Any) -> str:
    if _showable(name, old) and _showable(name, new) and old != new:
        return f"`{_cell(name)}`: `{_cell(_scalar(old))}` → `{_cell(_scalar(new))}`"
    return f"`{_cell(name)}`"


def _showable(name: str, value: Any) -> bool:
    """Only provably harmless values: a field on ``SHOWN`` whose name does not look sensitive, holding a short
    scalar that is neither a secret nor a URL. Everything else is named, never printed."""
    leaf = name.split(".")[-1].split("[")[0]
    if leaf not in SHOWN or SENSITIVE.search(name):
        return False
    if value is None or isinstance(value, (bool, int, float)):
        return True
    return (isinstance(value, str) and len(value) <= MAX_VALUE and value != "[secret]"
            and not any(mark in value for mark in ("://", "@", "\n")))


def _scalar(value: Any) -> str:
    return "null" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)


def _strings(value: Any) -> set[str]:
    """Every string inside ``value``; a secret's ``plaintext`` is JSON, so its decoded strings count too."""
    if isinstance(value, str):
        return {value} if value != "[secret]" else set()
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == SECRET_SIG:
                continue
            found |= _strings(item)
            if key == "plaintext" and isinstance(item, str):
                try:
                    found |= _strings(json.loads(item))
                except ValueError:
                    pass
    elif isinstance(value, list):
        for item in value:
            found |= _strings(item)
    return found


def _merge(into: list[str], items: Iterable[str]) -> None:
    into.extend(item for item in items if item not in into)


def _display_op(op: str) -> str:
    return "replace" if op in _REPLACE_OPS else op


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _type(step: dict, urn: str) -> str:
    for state in ("newState", "oldState"):
        kind = (step.get(state) or {}).get("type")
        if kind:
            return str(kind)
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else "?"


def _short(kind: str) -> str:
    return kind.removeprefix("pulumi-python:dynamic/")


def _op_cell(row: Row) -> str:
    return f"**{row.op}**" if row.op in ("replace", "delete") else row.op


def _list_cell(items: list[str], *, code: bool = False) -> str:
    if not items:
        return ""
    return ", ".join(f"`{_cell(i)}`" if code else i for i in items)


def _cell(text: Any) -> str:
    """Text that cannot break the table or the code span it sits in."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("`", "'")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.preview_md", description=__doc__,
                                     epilog="Example: pulumi preview --json --stack prd | python -m tools.preview_md "
                                            "--stack prd > comment.md")
    parser.add_argument("file", nargs="?", default="-", help="the preview JSON (default: stdin)")
    parser.add_argument("--stack", help="the stack name, for the heading")
    parser.add_argument("--details", metavar="FILE", help="append this text (e.g. `pulumi preview --diff`) "
                                                          "folded, passwords removed")
    parser.add_argument("--show-same", action="store_true", help="list unchanged resources too")
    return parser


def main(argv: Optional[list[str]] = None, stdin: Optional[TextIO] = None, stdout: Optional[TextIO] = None,
         stderr: Optional[TextIO] = None) -> int:
    """``python -m tools.preview_md [FILE] [--stack S] [--details DIFF] [--show-same]``; 0 done, 1 bad input."""
    args = build_parser().parse_args(argv)
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        text = (stdin or sys.stdin).read() if args.file == "-" else _read(args.file)
        details = _read(args.details) if args.details else None
        out.write(render(load(text), stack=args.stack, details=details, show_same=args.show_same))
    except PreviewError as error:
        print(f"error: {error}", file=err)
        return 1
    return 0


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as error:
        raise PreviewError(f"cannot read {path}: {error.strerror}") from None


if __name__ == "__main__":
    sys.exit(main())
