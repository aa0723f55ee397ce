"""Seeded, streaming generator of the sample app's rows as logical values (see migrate/sample.py)."""

from __future__ import annotations

import json
import random
from typing import Iterator

# Column kinds, per table in DDL order. Logical values: datetime = int epoch ms; decimal = float with at
# most two decimals (its repr is the exact decimal); json = compact JSON text or None (SQL NULL, so
# JsonNull is the text "null"); bool = bool; bytes = bytes; bigint/int = int; text/enum = str.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "User": [("id", "int"), ("email", "text"), ("name", "text"), ("avatar", "bytes"), ("isAdmin", "bool"),
             ("createdAt", "datetime_now")],
    "Project": [("id", "int"), ("name", "text"), ("budget", "decimal"), ("archived", "bool"),
                ("createdAt", "datetime_now"), ("ownerId", "int")],
    "Tag": [("id", "int"), ("name", "text")],
    "Task": [("id", "int"), ("title", "text"), ("description", "text"), ("status", "enum"), ("done", "bool"),
             ("priority", "int"), ("estimate", "decimal"), ("metadata", "json"), ("viewCount", "bigint"),
             ("dueAt", "datetime"), ("createdAt", "datetime_now"), ("updatedAt", "datetime"),
             ("projectId", "int"), ("assigneeId", "int")],
    "Comment": [("id", "int"), ("body", "text"), ("createdAt", "datetime_now"), ("taskId", "int"),
                ("authorId", "int")],
    "_TagToTask": [("A", "int"), ("B", "int")],
}
TABLES = list(COLUMNS)  # parents first
TAGS = 200
CHUNK = 20_000

T0 = 1_709_251_200_000  # 2024-03-01T00:00:00Z, when the app went live
_DAY = 86_400_000
_YEAR = 365 * _DAY
_STATUS = ("TODO", "IN_PROGRESS", "DONE")
# Text that breaks naive loaders: COPY's own escapes (\N, backslash, tab, newline, CR), quotes, non-BMP
# characters, combining sequences, right-to-left scripts, the empty string.
_TEXTS = (
    "Fix login bug", "Write the docs", "レビュー待ち", "デプロイ準備 🚀", "emoji 👩‍💻🎉 done", "tab\tseparated",
    "line one\nline two", "crlf\r\nline", "back\\slash C:\\temp\\", r"\N", "NULL", "quote ' and \"double\"",
    "100% _under_score_", "comma, semi; pipe |", "naïve café Ünïcödé", "中文 한국어 العربية", "  padded  ", "",
)
_NAMES = ("Aiko 佐藤", "Zoë 🚀", "O'Brien", 'Ann "Nan" Lee', "back\\slash", "tab\tname", "José Ñúñez")
_TAG_NAMES = ("日本語", "🔥 hot", 'needs "review"', "a\\b", "tab\ttag", "line\nbreak")


def counts(tasks: int) -> dict[str, int]:
    """Planned row counts (``_TagToTask`` is about ``tasks``; its exact count comes from the generator)."""
    return {"User": max(1, tasks // 100), "Project": max(1, tasks // 50), "Tag": TAGS, "Task": tasks,
            "Comment": tasks, "_TagToTask": tasks}


def chunks(table: str, tasks: int, seed: int) -> Iterator[list[tuple]]:
    """Rows of ``table`` in id order, ``CHUNK`` at a time; the same (tasks, seed) gives the same rows."""
    # One RNG per table, so each table's rows do not depend on the order tables are generated in.
    rng = random.Random(f"{seed}:{table}")
    n = counts(tasks)
    make = {"User": _user, "Project": _project, "Tag": _tag, "Task": _task, "Comment": _comment}.get(table)
    if table == "_TagToTask":
        yield from _links(rng, tasks)
        return
    for start in range(1, n[table] + 1, CHUNK):
        yield [make(rng, i, n) for i in range(start, min(start + CHUNK, n[table] + 1))]


def _user(rng: random.Random, i: int, n: dict) -> tuple:
    r = rng.random
    name = None if r() < 0.2 else f"{_NAMES[int(r() * len(_NAMES))]} {i}"
    avatar = None
    if r() < 0.5:
        # Mostly small PNG-like blobs, sometimes empty (b"" is not NULL) and with NUL bytes.
        avatar = b"\x89PNG\r\n\x1a\n\x00" + rng.randbytes(int(r() * 48)) if r() < 0.9 else b""
    return (i, f"user{i}@example.com", name, avatar, r() < 0.05, T0 + int(r() * _YEAR))


def _project(rng: random.Random, i: int, n: dict) -> tuple:
    r = rng.random
    budget = None
    if r() < 0.7:
        cents = int(r() * 10_000_000)
        # Some integral budgets: NUMERIC affinity stores those as INTEGER in the DECIMAL column.
        budget = float(cents // 100) if r() < 0.2 else cents / 100
    name = f"Project {i}" if r() < 0.8 else f"{_TEXTS[int(r() * len(_TEXTS))]} {i}"
    return (i, name, budget, r() < 0.1, T0 + int(r() * _YEAR), 1 + int(r() * n["User"]))


def _tag(rng: random.Random, i: int, n: dict) -> tuple:
    return (i, f"{_TAG_NAMES[i - 1]} {i}" if i <= len(_TAG_NAMES) else f"tag-{i}")


def _task(rng: random.Random, i: int, n: dict) -> tuple:
    r = rng.random
    created = T0 + int(r() * _YEAR)
    status = _STATUS[int(r() * 3)]
    x = r()
    description = None if x < 0.3 else "" if x < 0.32 else f"{_TEXTS[int(r() * len(_TEXTS))]} (task {i})"
    estimate = None if r() < 0.4 else int(r() * 400) / 4  # quarter hours; n.0 is stored as INTEGER
    return (
        i, f"{_TEXTS[int(r() * len(_TEXTS))]} #{i}", description, status, status == "DONE", int(r() * 5),
        estimate, _metadata(r, i), _view_count(r), None if r() < 0.5 else created + int(r() * 60 * _DAY),
        created, created + int(r() * 30 * _DAY), 1 + int(r() * n["Project"]),
        None if r() < 0.25 else 1 + int(r() * n["User"]),
    )


def _metadata(r, i: int) -> str | None:
    x = r()
    if x < 0.40:
        return None  # SQL NULL (DbNull)
    if x < 0.45:
        return "null"  # JSON null (JsonNull), text 'null'
    if x < 0.50:
        return str(int(r() * 1000))  # NUMERIC affinity stores it as INTEGER
    if x < 0.55:
        return repr(int(r() * 1000) / 4 + 0.5)  # ... and this one as REAL
    if x < 0.58:
        return json.dumps(_TEXTS[int(r() * len(_TEXTS))], ensure_ascii=False)
    if x < 0.60:
        return "true" if r() < 0.5 else "false"
    if x < 0.65:
        doc = [i, "x", None, 1.5, {"deep": [True]}]
    else:
        doc = {"source": "import", "ref": i, "labels": ["a", _TEXTS[int(r() * len(_TEXTS))]],
               "nested": {"ok": r() < 0.5, "ratio": int(r() * 100) / 8, "none": None}}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))  # serde_json's compact form


def _view_count(r) -> int:
    x = r()
    if x < 0.005:
        return 2**53 + int(r() * 2**62)  # beyond a JS number: a string in the JSON export
    if x < 0.1:
        return 2**31 + int(r() * 2**40)  # beyond a 32-bit INTEGER
    return int(r() * 10_000)


def _comment(rng: random.Random, i: int, n: dict) -> tuple:
    r = rng.random
    return (i, f"{_TEXTS[int(r() * len(_TEXTS))]} — comment {i}", T0 + int(r() * _YEAR),
            1 + int(r() * n["Task"]), None if r() < 0.1 else 1 + int(r() * n["User"]))


def _links(rng: random.Random, tasks: int) -> Iterator[list[tuple]]:
    # 0, 1, 1 or 2 distinct tags per task: about one link per task, each (A, B) pair unique.
    r = rng.random
    chunk: list[tuple] = []
    for task in range(1, tasks + 1):
        k = (0, 1, 1, 2)[int(r() * 4)]
        first = 1 + int(r() * TAGS)
        chunk.append((first, task))
        if k == 2:
            chunk.append((1 + (first + int(r() * (TAGS - 1))) % TAGS, task))
        elif k == 0:
            chunk.pop()
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
