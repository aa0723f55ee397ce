"""Emergency rollback without Pulumi: restore DATABASE_URL, then redeploy an earlier release and wait until live."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, TextIO

from infra import _rollback_render as render
from infra._rollback_render import RollbackError
from infra.render.client import RenderClient
from infra.render.errors import RenderAPIError

ENV_KEY = "DATABASE_URL"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_SERVICE = re.compile(r"srv-[a-z0-9]+")
_DEPLOY = re.compile(r"dep-[a-z0-9]+")
_POSTGRES = re.compile(r"dpg-[a-z0-9]+-[a-z]")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Plan:
    """What a rollback will do; ``hook_url`` and ``database_url`` are secrets and never printed."""

    service: dict
    live: Optional[dict]
    target: Optional[dict] = None  # the deploy to return to (rollback endpoint)
    hook_url: Optional[str] = None
    hook_source: str = ""  # the env var the hook URL came from
    image_ref: Optional[str] = None
    database_url: Optional[str] = None
    database_source: str = ""  # "$VAR" or "postgres dpg-..."
    current_url: Optional[str] = None  # DATABASE_URL on the service now

    @property
    def service_id(self) -> str:
        return self.service["id"]


def build_parser() -> argparse.ArgumentParser:
    """The command line. Secrets never come from argv (shell history, ``ps``) and never reach the output: the
    deploy-hook URL and the DATABASE_URL to restore are read from the named environment variables, and
    connection strings are shown without their password and query. The API key is ``RENDER_API_KEY``, the base
    URL ``RENDER_API_URL`` (when not Render's)."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.rollback", description=__doc__,
        epilog="Example: RENDER_API_KEY=... PREV_DATABASE_URL=... python -m infra.rollback --service srv-abc "
               "--previous --restore-database-url-env PREV_DATABASE_URL --yes")
    parser.add_argument("--service", required=True, help="the web service to roll back (srv-...)")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--to-deploy", metavar="DEP", help="roll back to this earlier deploy (dep-...)")
    how.add_argument("--previous", action="store_true", help="roll back to the newest deploy that was live "
                                                              "before the live one (after a rollback: the release "
                                                              "rolled back from)")
    how.add_argument("--hook-url-env", metavar="VAR", help="trigger the service's deploy hook, whose secret URL "
                                                            "is in environment variable VAR (needs --image-tag)")
    parser.add_argument("--image-tag", metavar="TAG", help="with --hook-url-env: the image tag (or sha256:... "
                                                            "digest) to deploy; the image repository is the "
                                                            "service's")
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--restore-database-url-env", metavar="VAR", help="first set DATABASE_URL to the value of "
                                                                       "environment variable VAR")
    db.add_argument("--restore-database-url-from-postgres", metavar="DPG", help="first set DATABASE_URL to this "
                                                                                 "Render Postgres's internal URL")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the deploy to be live "
                                                                       "(default 1800)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    return parser


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """Parse and cross-check the arguments; mistakes exit 2 with argparse's one-line message."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not _SERVICE.fullmatch(args.service):
        parser.error(f"--service must be a Render service id (srv-...), got {args.service!r}")
    if args.to_deploy and not _DEPLOY.fullmatch(args.to_deploy):
        parser.error(f"--to-deploy must be a deploy id (dep-...), got {args.to_deploy!r}")
    if bool(args.hook_url_env) != bool(args.image_tag):
        parser.error("--hook-url-env and --image-tag go together (the hook deploys the image with that tag)")
    if args.image_tag and not render.IMAGE_TAG.fullmatch(args.image_tag):
        parser.error(f"--image-tag must be a tag (letters, digits, . _ -) or sha256:<64 hex>, got {args.image_tag!r}")
    for flag in ("hook_url_env", "restore_database_url_env"):
        name = getattr(args, flag)
        if name and not _ENV_NAME.fullmatch(name):
            parser.error(f"--{flag.replace('_', '-')} takes an environment variable's NAME, not its value")
    source = args.restore_database_url_from_postgres
    if source and not _POSTGRES.fullmatch(source):
        parser.error(f"--restore-database-url-from-postgres must be a Postgres id (dpg-...-a), got {source!r}")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return args


def make_plan(client: RenderClient, args: argparse.Namespace, environ: Mapping[str, str]) -> Plan:
    """Read everything the rollback needs and check it; changes nothing.

    The environment is read first, so a missing variable fails before any API call.

    :raises RollbackError: for an unknown service or deploy, no previous deploy, a missing variable.
    """
    hook_url = database_url = None
    if args.hook_url_env:
        hook_url = _secret_env(environ, args.hook_url_env, "the service's deploy hook URL")
        render.check_hook_url(hook_url, args.service, args.hook_url_env)
    if args.restore_database_url_env:
        database_url = _secret_env(environ, args.restore_database_url_env, f"the {ENV_KEY} to restore")
        _check_postgres_url(database_url, f"${args.restore_database_url_env}")
    service = render.service(client, args.service)
    plan = Plan(service=service, live=render.live_deploy(client, args.service), hook_url=hook_url,
                hook_source=args.hook_url_env or "", database_url=database_url,
                database_source=f"${args.restore_database_url_env}" if database_url else "")
    if args.previous:
        plan.target = render.previous_deploy(client, args.service, plan.live)
    elif args.to_deploy:
        plan.target = render.deploy_to_return_to(client, args.service, args.to_deploy)
    else:
        plan.image_ref = render.image_ref(service, args.image_tag)
    if args.restore_database_url_from_postgres:
        plan.database_url = render.internal_url(client, args.restore_database_url_from_postgres)
        plan.database_source = f"postgres {args.restore_database_url_from_postgres}"
        _check_postgres_url(plan.database_url, plan.database_source)
    if plan.database_url is not None:
        plan.current_url = render.env_value(client, args.service, ENV_KEY)
    return plan


def _check_postgres_url(url: str, source: str) -> None:
    if not render.is_postgres_url(url):
        raise RollbackError(f"the {ENV_KEY} from {source} is not a postgres:// or postgresql:// URL "
                            "(value not shown)")


def describe(plan: Plan) -> list[str]:
    """The plan as report lines; no secret in them."""
    service = plan.service
    lines = [f"service {plan.service_id} ({service.get('name', '?')}): live deploy "
             f"{render.deploy_label(plan.live) if plan.live else 'none'}"]
    if plan.database_url is not None:
        if plan.current_url == plan.database_url:
            lines.append(f"{ENV_KEY}: already {render.safe_url(plan.database_url)} (from {plan.database_source}); "
                         "left as is")
        else:
            lines.append(f"{ENV_KEY}: {render.safe_url(plan.current_url)} -> {render.safe_url(plan.database_url)} "
                         f"(from {plan.database_source}), set before the deploy so the deploy picks it up")
    if plan.target is not None:
        note = " (the live one: redeployed with today's env vars)" if plan.live and \
            plan.target["id"] == plan.live["id"] else ""
        lines.append(f"roll back to {render.deploy_label(plan.target)}{note} through Render's rollback endpoint")
    else:
        lines.append(f"trigger the deploy hook from ${plan.hook_source} with image {plan.image_ref}")
    return lines


def execute(client: RenderClient, plan: Plan, *, timeout: float, say: Callable[[str], None],
            progress: Callable[[str], None], sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> dict:
    """Restore DATABASE_URL, then trigger the deploy, then wait until it is live.

    The order matters: env var writes do not redeploy, and a rollback deploy reuses the target's build but starts
    it with the service's env vars as they are when it starts. Restoring DATABASE_URL afterwards would leave the
    rolled-back release running against the database it is being rolled back from, until some later deploy.

    :raises RollbackError: when a step fails; says what had already been changed.
    """
    if plan.database_url is not None and plan.current_url != plan.database_url:
        render.put_env(client, plan.service_id, ENV_KEY, plan.database_url)
        say(f"{ENV_KEY} set to {render.safe_url(plan.database_url)} (was {render.safe_url(plan.current_url)})")
    waiter = render.Waiter(client, plan.service_id, sleep=sleep, clock=clock)
    try:
        if plan.target is not None:
            deploy = waiter.rollback(plan.target["id"])
            say(f"rollback deploy {deploy['id']} started (returns to {plan.target['id']})")
        else:
            deploy = waiter.hook(plan.hook_url, plan.image_ref, plan.hook_source)
            say(f"deploy hook started deploy {deploy['id']} (image {plan.image_ref})")
        started = clock()
        done = waiter.until_live(deploy["id"], timeout, progress)
    except (RollbackError, RenderAPIError) as error:
        raise RollbackError(f"{error}{_already_changed(plan)}") from None
    say(f"deploy {done['id']} is live after {clock() - started:.1f}s; service {plan.service_id} now runs "
        f"{render.deploy_label(done)}")
    return done


def main(argv: Optional[list[str]] = None, *, environ: Optional[Mapping[str, str]] = None,
         stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None,
         stdin: Optional[TextIO] = None, **timing) -> int:
    """Run the rollback; returns the exit code (0 done, 1 failed, 2 usage). ``timing``: ``sleep``/``clock``."""
    environ = os.environ if environ is None else environ
    out, err, stdin = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)

    def say(line: str) -> None:  # the report: stdout; waiting progress goes to stderr
        print(line, file=out, flush=True)

    try:
        with _client(environ) as client:
            plan = make_plan(client, args, environ)
            for line in describe(plan):
                say(line)
            if args.dry_run:
                say("dry run: nothing was changed")
                return EXIT_OK
            _confirm(args.yes, stdin, err)
            execute(client, plan, timeout=args.timeout, say=say,
                    progress=lambda line: print(line, file=err, flush=True), **timing)
            _warn_auto_deploy(plan.service, say)
    except (RollbackError, RenderAPIError) as error:
        print(f"error: {error}", file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted; check the service's deploys before running again", file=err)
        return EXIT_FAILED
    return EXIT_OK


def _client(environ: Mapping[str, str]) -> RenderClient:
    try:
        return RenderClient.from_env(environ)
    except ValueError as error:  # no key, or a malformed RENDER_API_URL
        raise RollbackError(str(error)) from None


def _secret_env(environ: Mapping[str, str], name: str, what: str) -> str:
    value = environ.get(name, "")
    if not value.strip():
        raise RollbackError(f"environment variable {name} is not set: export it with {what}")
    return value.strip()


def _confirm(yes: bool, stdin: TextIO, err: TextIO) -> None:
    if yes:
        return
    if not stdin.isatty():
        raise RollbackError("refusing to change the service without --yes (no terminal to confirm on)")
    print("Proceed? [y/N] ", end="", file=err, flush=True)
    if stdin.readline().strip().lower() not in ("y", "yes"):
        raise RollbackError("not confirmed; nothing was changed")


def _already_changed(plan: Plan) -> str:
    if plan.database_url is None or plan.current_url == plan.database_url:
        return ""
    return (f"; note: {ENV_KEY} was already set to {render.safe_url(plan.database_url)}, which the running "
            "release only picks up with its next successful deploy")


def _warn_auto_deploy(service: dict, say: Callable[[str], None]) -> None:
    # Render's API rollback (unlike the dashboard's) leaves auto-deploy on.
    if service.get("autoDeploy") == "yes":
        say(f"warning: auto-deploy is on: the next push to {service.get('branch') or 'the branch'} deploys "
            "again; turn it off in the dashboard to keep this rollback")


if __name__ == "__main__":
    sys.exit(main())
