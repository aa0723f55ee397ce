"""Measurements for bench/import_bench.py: the machine, a command under /usr/bin/time, CPU split, row counts."""

from __future__ import annotations

import os
import platform
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict:
    """Date, cores, CPU model, memory, Python and pgloader versions, the code measured and its hashing mode."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem_kb = int(re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M).group(1))
    pgloader = shutil.which("pgloader")
    version = subprocess.run([pgloader, "--version"], capture_output=True, text=True).stdout if pgloader else ""
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "nproc": os.cpu_count(),
            "cpu": model.group(1).strip() if model else platform.processor(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "pgloader": " ".join(version.split()), "code": code_version(),
            "source_digests": source_digests_mode()}


def source_digests_mode() -> str:
    """How our import's hashing helper computes the source digests in this environment (see sourcehash)."""
    from migrate import sourcehash
    return "compiled (migrate/_rowdigest.c)" if sourcehash.compiled() else "pure Python"


def code_version() -> str:
    """The commit measured, and whether migrate/ had uncommitted changes (other work in progress)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--", "migrate")
    return f"{head}{' + uncommitted changes in migrate/' if dirty else ''}" if head else "unknown"


def source_counts(path: Path) -> dict[str, int]:
    """Rows per app table of the SQLite file (``_prisma_migrations`` is not copied by either tool)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%' AND name <> '_prisma_migrations'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def cpu_snapshot(datadir: Path) -> tuple[float, float, float]:
    """CPU seconds so far: the whole machine busy, and the server of the cluster in ``datadir`` (postmaster, its
    children, reaped backends), and this process (the bench samples memory while a tool runs); what none of
    them nor the client used during a run, other processes used."""
    head = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = sum(head) - head[3] - head[4]  # everything but idle and iowait
    postmaster, server = int((datadir / "postmaster.pid").read_text().split()[0]), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # from field 3 (state) on; ppid is fields[1]
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(stat.parent.name) == postmaster:
            server += sum(map(int, fields[11:15]))  # utime, stime and its reaped children's cutime, cstime
        elif int(fields[1]) == postmaster:
            server += sum(map(int, fields[11:13]))
    tick = os.sysconf("SC_CLK_TCK")
    return busy / tick, server / tick, time.process_time()


def cpu_split(datadir: Path, before: tuple[float, float, float], client_cpu: float) -> dict:
    """CPU seconds since ``before`` of the cluster's server, of this (sampling) process, and of all others."""
    busy, server, bench = (after - start for after, start in zip(cpu_snapshot(datadir), before))
    return {"server_cpu": round(server, 2), "bench_cpu": round(bench, 2),
            "other_cpu": round(max(0.0, busy - server - bench - client_cpu), 2)}


def timed(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``: exit status, wall and CPU seconds, and peak memory.

    ``/usr/bin/time`` reports the largest single process; a client that starts helper processes (our import
    hashes the source in one) is measured as the sum of every process's own peak (VmHWM, sampled every 0.25 s
    while it runs): an upper bound of their peak together.
    """
    stats, peaks = log.with_suffix(".time"), {}
    with open(log, "w") as out:
        proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", str(stats), *cmd], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)
        while True:
            for pid in _descendants(proc.pid):
                peaks[pid] = max(peaks.get(pid, 0), _high_water_kb(pid))
            try:
                proc.wait(timeout=0.25)  # seldom: the sampling itself costs CPU the tools could use
                break
            except subprocess.TimeoutExpired:
                continue
    text = stats.read_text()
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    largest = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    status = re.search(r"Exit status: (-?\d+)", text)
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text))
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return {"exit": int(status.group(1)) if status else proc.returncode, "wall": round(seconds, 2),
            "client_cpu": round(cpu, 2), "peak_rss_mb": round(max(largest, sum(peaks.values())) / 1024, 1),
            "largest_process_rss_mb": round(largest / 1024, 1),
            "client_processes": len([kb for kb in peaks.values() if kb]), "log": str(log)}


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _high_water_kb(pid: int) -> int:
    """The process's peak resident set so far (0 once it has ended)."""
    try:
        match = re.search(r"^VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def check_counts(url: str, expected: dict[str, int]) -> dict:
    """Rows per table on the target against the source: the check pgloader's exit code cannot replace."""
    with psycopg.connect(url) as conn:
        got = {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
               for t in expected}
    differ = {t: {"source": expected[t], "target": got[t]} for t in expected if got[t] != expected[t]}
    return {"target_rows": sum(got.values()), "counts_ok": not differ, "count_differences": differ}


def schema_objects(url: str) -> set[str]:
    """Names of the constraints and indexes in ``public``: a load must leave Prisma's schema as it found it."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                            "WHERE n.nspname = 'public' UNION SELECT indexname FROM pg_indexes "
                            "WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}
