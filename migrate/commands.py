"""One function per verb of ``python -m migrate``; each takes the parsed arguments and returns an exit code.

``plan`` and ``verify`` are read-only: they open the target in a read-only session and never write.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import report as out
from .cluster import Cluster
from .errors import ConversionError, SmokeFailed, VerificationFailed
from .load import import_data
from .pg import connect, usable_cores
from .progress import Progress, QuietProgress, RichStderrProgress
from .rows import RowConverter, no_cyclic_gc
from .schema import plan as make_plan, read_target
from .source import open_source
from .sourcehash import table_digest
from .verify import Cancel, check, plan_columns, source_digests, target_digests

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_APP = ROOT / "tests" / "fixtures" / "app"
VERIFY_JOBS = 2  # one connection per table on the target; the machines here have 2 cores


def _progress(args) -> Progress:
    return QuietProgress() if args.quiet else RichStderrProgress()


def _planned(source, target_url: str):
    """Read the target schema in a read-only session and map the source onto it."""
    with connect(target_url) as conn:
        conn.read_only = True
        return make_plan(source, read_target(conn))


def plan(args) -> int:
    """Read-only dry run: the mapping per table and every problem, including values that will not convert."""
    with open_source(args.source) as source:
        the_plan = _planned(source, args.target)
        progress = _progress(args)
        bad = {} if the_plan.problems else _conversion_problems(source, the_plan, progress)
    out.print_plan(the_plan, bad)
    out.write_json(args.json_report, out.plan_dict(the_plan, bad))
    return 1 if the_plan.problems or bad else 0


def _conversion_problems(source, the_plan, progress: Progress) -> dict[str, ConversionError]:
    """Convert every row without sending it; the first value that fails in each table."""
    bad = {}
    with no_cyclic_gc():
        for tp in the_plan.tables:
            with progress.table(f"check {tp.target}", tp.rows) as advance:
                try:
                    for batch in RowConverter(tp, source.flavour).batches(source):
                        advance(len(batch))
                except ConversionError as exc:
                    bad[tp.target] = exc
    return bad


def import_(args) -> int:
    """Copy the source into the target in one transaction; verify unless ``--no-verify``."""
    progress = _progress(args)
    with open_source(args.source, check=False) as source:  # import_data checks it, in the helper if it can
        the_plan = _planned(source, args.target)
        try:  # verified inside the import's transaction: a difference rolls the import back
            result = import_data(source, args.target, the_plan, replace=args.replace, strip_nul=args.strip_nul,
                                 progress=progress, hashers=not args.no_verify, verify=not args.no_verify)
        except VerificationFailed as exc:
            _report_import(args, exc.report)
            raise
    _report_import(args, result)
    return 0


def _report_import(args, result, timings: dict | None = None) -> None:
    out.print_import(result, result.verification)
    doc = out.import_dict(result, result.verification)
    if timings is not None:
        out.print_timings(timings)
        doc["timings"] = timings
    out.write_json(args.json_report, doc)


def verify(args) -> int:
    """Read-only: row counts and content hashes of every table on both sides; exit 3 when they differ.

    PostgreSQL hashes the target (on its own connections, in a thread that only waits for the server) while
    this process hashes the source with the hashing helper's row functions (sourcehash.table_digest). 1M tasks,
    server on this machine: 7.2 s instead of 11.3 s, which was the source through the complete converters
    (8.7 CPU-s against 5.8) and then the target. A table that differs is hashed again through the complete
    converters: a value the import would refuse is then named (exit 1) as before; otherwise their digest decides.
    (Such a value, an integer out of its column's range say, cannot be in the target, so its table differs.)
    """
    progress = _progress(args)
    started = time.perf_counter()
    with open_source(args.source) as source:
        the_plan = _planned(source, args.target)
        the_plan.check()
        columns = plan_columns(the_plan)
        progress.status(f"hashing {len(columns)} tables on the target while the source is hashed here ...")
        cancel = Cancel()
        with ThreadPoolExecutor(max_workers=1) as pool, no_cyclic_gc():
            # A server on this machine shares its cores with this process: each query's leader and workers get
            # an equal part of the rest (2 cores: no workers; 7.2 s against 8.0 s with the default 2, 4 runs each).
            target = pool.submit(target_digests, args.target, columns, jobs=VERIFY_JOBS,
                                 cores=max(1, (usable_cores() - 1) // VERIFY_JOBS), cancel=cancel)
            try:
                planned = {tp.target: tp for tp in the_plan.tables if tp.columns}  # (a JSON export's [] has none)
                src = {name: _fast_digest(source, tp, args.strip_nul, progress, target)
                       for name, tp in planned.items()}
                verification = check(src, target.result(), time.perf_counter() - started)
            except BaseException:  # an error or Ctrl-C: the pool's exit need not wait for the target's queries
                cancel()
                raise
            confirm = [planned[m.table] for m in verification.mismatches if m.table in planned]
            if confirm:
                src.update(source_digests((tp.target, tp.kinds, _rows(source, tp, args.strip_nul, progress))
                                          for tp in confirm))
                verification = check(src, verification.target, time.perf_counter() - started)
    out.print_verification(verification)
    out.write_json(args.json_report, out.verification_dict(verification))
    _raise_on_mismatch(verification)
    return 0


def _fast_digest(source, tp, strip_nul: bool, progress: Progress, target) -> tuple[int, int]:
    """The source digest of one table; raises the target side's error as soon as it has failed."""
    with progress.table(f"hash {tp.target}", tp.rows) as advance:
        def step(n: int) -> None:
            advance(n)
            if target.done() and target.exception() is not None:
                raise target.exception()
        return table_digest(source, tp, strip_nul, step)


def _rows(source, tp, strip_nul: bool, progress: Progress):
    with progress.table(f"confirm {tp.target}", tp.rows) as advance:
        for batch in RowConverter(tp, source.flavour, strip_nul).batches(source):
            yield from batch
            advance(len(batch))


def _raise_on_mismatch(verification) -> None:
    if verification is not None and verification.mismatches:
        raise VerificationFailed(verification.mismatches)


def rehearse(args) -> int:
    """Local dry run: throwaway PostgreSQL, the app's ``prisma migrate deploy``, import, verify, report."""
    from .prisma import migrate_deploy
    from .sample import make_dataset

    progress = _progress(args)
    app = Path(args.app) if args.app else SAMPLE_APP
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rehearse-")))
        source = args.source
        if source is None:
            with _timed(timings, "generate dataset", progress):
                source = workdir / "app.db"
                make_dataset(source, args.tasks, mixed_dates=True)
        with _timed(timings, "start PostgreSQL", progress):
            cluster = stack.enter_context(Cluster())
            url = cluster.create_database("rehearsal")
        with _timed(timings, "prisma migrate deploy", progress):
            migrate_deploy(app, url)
        with _timed(timings, "import and verify", progress), open_source(source) as src:
            the_plan = _planned(src, url)
            try:
                result = import_data(src, url, the_plan, progress=progress, verify=True)
            except VerificationFailed as exc:
                _report_import(args, exc.report)
                raise
    _report_import(args, result, timings)
    return 0


@contextlib.contextmanager
def _timed(timings: dict, step: str, progress: Progress):
    progress.status(f"{step} ...")
    started = time.perf_counter()
    yield
    timings[step] = round(time.perf_counter() - started, 3)


def smoke(args) -> int:
    """HTTP checks against the deployed app; exit 1 with what was wrong."""
    from .smoke import run_smoke

    try:
        result = run_smoke(args.url, args.database_url, timeout=args.timeout, progress=_progress(args))
    except SmokeFailed as exc:
        if exc.report is not None:
            out.write_json(args.json_report, exc.report.to_dict())
        raise
    out.print_smoke(result)
    out.write_json(args.json_report, result.to_dict())
    return 0
