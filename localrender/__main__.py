"""``python -m localrender``: argument parsing only; the server lives in localrender.server."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .faults import parse_spec
from .server import LocalRender
from .store import StateError

EXAMPLE = """example:
  LOCALRENDER_API_KEY=secret python -m localrender --port 8700 --state .state/render.yaml \\
      --pg-admin-url postgresql://postgres@127.0.0.1:5432/postgres --fault status=429,nth=3
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localrender", epilog=EXAMPLE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="A local Render API under http://127.0.0.1:PORT/v1.")
    parser.add_argument("--port", type=int, default=8700, help="port to listen on (0: any free port)")
    parser.add_argument("--api-key", help="Bearer key clients must send (default: $LOCALRENDER_API_KEY)")
    parser.add_argument("--state", help="YAML/JSON state file; seeded from it and saved back on every change")
    parser.add_argument("--pg-admin-url", help="superuser URL of a local cluster for real databases "
                                               "(default: $LOCALRENDER_PG_ADMIN_URL)")
    parser.add_argument("--postgres-ready-after", type=float, default=5.0, metavar="S",
                        help="seconds a new Postgres stays 'creating' (Render: about 40-60)")
    parser.add_argument("--deploy-step-seconds", type=float, default=1.0, metavar="S",
                        help="seconds between deploy states")
    parser.add_argument("--validate", action="store_true", help="check traffic against Render's OpenAPI document")
    parser.add_argument("--log-dir", help="where local service processes write their output")
    faults = parser.add_argument_group("faults")
    faults.add_argument("--fault", action="append", default=[], metavar="SPEC",
                        help="a fault rule, e.g. status=503,share=0.2 or lose_reply=close,method=POST,"
                             "path=/v1/postgres,times=1 (repeatable; fields of localrender.faults.Fault)")
    faults.add_argument("--latency", type=float, metavar="S", help="add S seconds to every /v1 request")
    faults.add_argument("--fail-nth", action="append", default=[], metavar="N:STATUS",
                        help="the Nth /v1 request gets STATUS (429, 500 or 503)")
    faults.add_argument("--fail-share", action="append", default=[], metavar="P:STATUS",
                        help="a share P (0..1) of /v1 requests gets STATUS")
    faults.add_argument("--lose-create-reply", choices=("close", "500", "timeout"),
                        help="the next POST /v1/postgres creates the database but its reply is lost")
    faults.add_argument("--postgres-stuck-creating", action="store_true",
                        help="the next Postgres created stays in 'creating'")
    faults.add_argument("--rate-limit", action="append", default=[], metavar="BUCKET=N/SECONDS",
                        help="override a limit: get, write, service_action, create_postgres, create_service")
    return parser.parse_args(argv)


def fault_specs(args: argparse.Namespace) -> list[dict]:
    """Every fault flag as keyword arguments for ``Faults.add``; raises ValueError on a malformed one."""
    specs = [parse_spec(text) for text in args.fault]
    if args.latency:
        specs.append({"latency": args.latency})
    for text in args.fail_nth:
        nth, status = text.split(":")
        specs.append({"nth": int(nth), "status": int(status)})
    for text in args.fail_share:
        share, status = text.split(":")
        specs.append({"share": float(share), "status": int(status)})
    if args.lose_create_reply:
        specs.append({"lose_reply": args.lose_create_reply, "method": "POST", "path": "/v1/postgres", "times": 1})
    if args.postgres_stuck_creating:
        specs.append({"stuck_creating": True, "method": "POST", "path": "/v1/postgres", "times": 1})
    return specs


def build(args: argparse.Namespace) -> LocalRender:
    key = args.api_key or os.environ.get("LOCALRENDER_API_KEY")
    if not key:
        raise ValueError("no API key: pass --api-key or set LOCALRENDER_API_KEY")
    server = LocalRender(key, state=args.state, pg_admin_url=args.pg_admin_url or os.environ.get(
        "LOCALRENDER_PG_ADMIN_URL"), port=args.port, postgres_ready_after=args.postgres_ready_after,
        deploy_step_seconds=args.deploy_step_seconds, validate=args.validate, log_dir=args.log_dir)
    for spec in fault_specs(args):
        server.faults.add(**spec)
    for text in args.rate_limit:
        bucket, _, rest = text.partition("=")
        limit, _, window = rest.partition("/")
        server.limits.set(bucket, int(limit), float(window or 60))
    return server


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="localrender: %(message)s")
    try:
        server = build(args).start()
    except (ValueError, StateError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"localrender: serving {server.base_url} (admin {server.admin_url})", file=sys.stderr, flush=True)
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
