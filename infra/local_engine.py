"""A stand-in for `pulumi up`: runs the real program under pulumi mocks and really applies each resource.

Where the Pulumi CLI cannot run (no binary, no plugins), this runs infra/__main__.py exactly as the Python
language host does (``runpy.run_path("infra/")``) with ``pulumi.runtime.set_mocks``, whose ``new_resource``
*executes* every resource as it is registered:

- dynamic resources (infra/render): the pickled provider in ``__provider`` is unpickled (as the provider process
  does), configured with the stack config, then ``check`` and ``create`` run against the Render API it points at;
- ``command:local:Command``: its ``create`` runs with its ``environment`` (added to this process's) in its ``dir``,
  through its ``interpreter`` (``/bin/sh -c`` by default); a non-zero exit fails the step with the tail of its
  stderr, scrubbed of every secret the engine has seen.

The SDK awaits a resource's dependencies (their URNs, which resolve when their registration returns) before it
registers the resource, so the chain runs in dependency order; the monitor checks that on every registration.

Given the ``State`` of an earlier ``up`` (kept in memory), a resource already there is diffed instead, and updated,
replaced or left alone, and what the program no longer declares is deleted at the end, as infra/local_state.py
describes (``protect`` and ``retain_on_delete`` included). What it is not: no previews, no refresh, no policy
packs, no state on disk. Secret outputs are marked as the engine would (``additional_secret_outputs``, and the
outputs of a resource with a secret input of the same name; every output of a command with a secret input).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import logging
import os
import runpy
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import dill
import pulumi
from pulumi.dynamic import ConfigureRequest, ResourceProvider
from pulumi.dynamic.config import Config as DynamicConfig
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra import local_state
from infra.config import PROJECT
from infra.local_secrets import Secrets, as_secret, is_secret, reveal  # noqa: F401 (re-exported)
from infra.local_state import Record, Refused, State

COMMAND = "command:local:Command"
DYNAMIC = "pulumi-python:dynamic/"
PROVIDER_KEY = "__provider"
_TAIL = 1500  # characters of a failed command's stderr kept in the error
_DONE = {"create": "done", "update": "updated", "replace": "replaced", "same": "unchanged"}


class EngineError(Exception):
    """A resource could not be created; the message names it and carries no secret."""


@dataclass
class Step:
    """One resource the engine created (or failed to): its name, type, wall time and outcome."""

    name: str
    type: str
    started: float
    seconds: float = 0.0
    ok: bool = False
    error: Optional[str] = None
    dependencies: tuple[str, ...] = ()
    stdout: str = ""  # a command's output, scrubbed of secrets
    op: str = "create"  # create, update, replace, same or delete


@dataclass
class UpResult:
    """The outcome of one ``up``: the steps in the order they started, the stack outputs, the first error."""

    steps: list[Step]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()
    error: Optional[str] = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and all(step.ok for step in self.steps)

    def report(self) -> str:
        """A short table (step, operation, seconds, ok) and the outputs, secret ones masked."""
        width = max([len(s.name) for s in self.steps] + [4])
        lines = [f"{'step':<{width}}  {'op':<7}  {'seconds':>8}  ok"]
        for step in self.steps:
            ok = "yes" if step.ok else "FAILED"
            lines.append(f"{step.name:<{width}}  {step.op:<7}  {step.seconds:>8.2f}  {ok}")
        lines.append(f"{'total':<{width}}  {'':<7}  {self.seconds:>8.2f}  {'yes' if self.ok else 'FAILED'}")
        for key in sorted(self.outputs):
            shown = "[secret]" if key in self.secret_outputs else self.outputs[key]
            lines.append(f"output {key}: {shown}")
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)


class Executor(pulumi.runtime.Mocks):
    """Applies each registered resource for real (see the module docstring).

    :param config: the stack config as the engine passes it (``tasks-cutover:key`` -> text).
    :param state: the stack's resources from earlier ``up``s; updated in place.
    :param tune: called with each unpickled dynamic provider before use (e.g. to poll a local API faster).
    :param command_timeout: seconds a command may run before it is killed and fails.
    """

    def __init__(self, config: Mapping[str, str], project: str, project_dir: Path, secrets: Secrets,
                 tune: Optional[Callable[[ResourceProvider], None]] = None, command_timeout: float = 1800.0,
                 state: Optional[State] = None):
        self.config, self.project, self.project_dir = dict(config), project, Path(project_dir)
        self.secrets, self.tune, self.command_timeout = secrets, tune, command_timeout
        self.state = state if state is not None else State()
        self.requests: dict[tuple[str, str], Any] = {}
        self.stdout: dict[str, str] = {}
        self.ops: dict[str, str] = {}
        self.declared: set[tuple[str, str]] = set()
        self.replaced: list[Record] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        request = self.requests.get((args.typ, args.name))
        wanted = set(request.additionalSecretOutputs) if request is not None else set()
        secret_inputs = {key for key, value in args.inputs.items() if is_secret(value)}
        props = reveal(args.inputs, self.secrets)
        old = self.state.get(args.typ, args.name)
        self.declared.add((args.typ, args.name))
        if args.typ.startswith(DYNAMIC):
            op, id_, outs, props = self._dynamic(args.name, props, old)
            wanted |= secret_inputs
        elif args.typ == COMMAND:
            op, id_, outs = self._command(args.name, props, old)
            wanted |= set(outs) if secret_inputs else set()
        else:
            raise EngineError(f"{args.name}: the local engine cannot create a {args.typ}")
        self.ops[args.name] = op
        if op == "same":
            reveal(old.returned, self.secrets)  # its secrets are this run's to scrub too
            return old.id, old.returned
        for key in wanted & set(outs):
            self.secrets.add(outs[key])
        returned = {key: as_secret(value) if key in wanted else value for key, value in outs.items()}
        if op == "replace":
            self.replaced.append(old)
        self.state.put(Record(args.typ, args.name, id_, props, outs, returned, bool(request and request.protect),
                              bool(request and request.retainOnDelete)))
        return id_, returned

    def call(self, args: pulumi.runtime.MockCallArgs):
        raise EngineError(f"the local engine runs no invokes ({args.token})")

    def finish(self, step: Callable[[Record, Callable[[], None]], None]) -> None:
        """After the program: delete what it no longer declares, then what was replaced (see local_state).

        :param step: runs one deletion (``step(record, action)``), e.g. to time and report it.
        """
        try:
            doomed = local_state.leftovers(self.state, self.declared, self.replaced)
        except Refused as exc:
            raise EngineError(str(exc)) from None
        local_state.delete_all(self.state, doomed, lambda record: step(record, lambda: self._delete(record)))

    def _provider(self, blob: str) -> ResourceProvider:
        provider = dill.loads(base64.b64decode(blob))  # as the dynamic provider process does
        provider.configure(ConfigureRequest(DynamicConfig(self.config, self.project)))
        if self.tune is not None:
            self.tune(provider)
        return provider

    def _dynamic(self, name: str, props: dict, old: Optional[Record]) -> tuple[str, str, dict, dict]:
        """Check, then create (or diff and update/replace/nothing); the op, id, outputs and checked inputs."""
        blob = props[PROVIDER_KEY]
        provider = self._provider(blob)  # update and create use the new blob, delete the stored one
        checked = provider.check(old.inputs if old else {}, props)
        if checked.failures:
            reasons = "; ".join(f"{f.property}: {f.reason}" for f in checked.failures)
            raise EngineError(f"{name}: check failed: {self.secrets.scrub(reasons)}")
        news = {**checked.inputs, PROVIDER_KEY: blob}
        try:
            op = "create" if old is None else local_state.dynamic_op(provider, old, news, name)
            if op == "same":
                return op, old.id, old.outs, old.inputs
            if op == "update":
                id_, outs = old.id, dict(provider.update(old.id, old.outs, news).outs or {})
            else:
                result = provider.create(news)
                id_, outs = result.id, dict(result.outs or {})
        except Exception as exc:  # the provider's own message, as `pulumi up` would print it
            raise EngineError(f"{name}: {self.secrets.scrub(str(exc))}") from None
        outs[PROVIDER_KEY] = blob
        return op, id_, outs, news

    def _command(self, name: str, props: dict, old: Optional[Record]) -> tuple[str, str, dict]:
        """Run ``create`` (new, or replaced by its triggers), ``update`` (other inputs changed) or nothing."""
        try:
            op = "create" if old is None else local_state.command_op(old, props)
        except Refused as exc:
            raise EngineError(str(exc)) from None
        if op == "same":
            return op, old.id, old.outs
        script = props.get("create") if op != "update" else (props.get("update") or props.get("create"))
        outs = {**props, **self._script(name, props, script)}
        return op, (old.id if op == "update" else f"{name}-{uuid.uuid4().hex[:8]}"), outs

    def _script(self, name: str, props: dict, script: Optional[str]) -> dict:
        """Run one of a command's scripts as pulumi-command does; its ``stdout``/``stderr``."""
        if not script:
            return {"stdout": "", "stderr": ""}
        interpreter = list(props.get("interpreter") or ["/bin/sh", "-c"])
        env = {**os.environ, **(props.get("environment") or {})}
        directory = props.get("dir") or str(self.project_dir)
        code, out, err = _run([*interpreter, script], directory, env, props.get("stdin"), self.command_timeout)
        if code != 0:
            tail = self.secrets.scrub(err.strip() or out.strip())[-_TAIL:]  # scrubbed, then cut
            raise EngineError(f"{name}: the command exited with {code}: {tail}")
        self.stdout[name] = self.secrets.scrub(out.rstrip("\n"))
        return {"stdout": out.rstrip("\n"), "stderr": err.rstrip("\n")}

    def _delete(self, record: Record) -> None:
        if record.type == COMMAND:
            self._script(record.name, record.inputs, record.inputs.get("delete"))
            return
        try:
            self._provider(record.outs[PROVIDER_KEY]).delete(record.id, record.outs)
        except Exception as exc:
            raise EngineError(f"{record.name}: {self.secrets.scrub(str(exc))}") from None


class Monitor(MockMonitor):
    """Times each registration and checks that every dependency finished before its dependent started."""

    def __init__(self, executor: Executor, echo: Callable[[str], None]):
        super().__init__(executor)
        self.executor, self.echo = executor, echo
        self.steps: list[Step] = []
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def RegisterResource(self, request):
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        deps = tuple(request.dependencies)
        step = Step(request.name, request.type, time.monotonic(), dependencies=tuple(u.split("::")[-1] for u in deps))
        with self._lock:
            self.steps.append(step)
            early = [urn for urn in deps if urn not in self._done]
        self.executor.requests[(request.type, request.name)] = request
        self.echo(f"{request.name} ...")
        try:
            if early:
                raise EngineError(f"{request.name} was registered before its dependencies finished: {early}")
            response = super().RegisterResource(request)
        except Exception as exc:
            step.seconds, step.error = time.monotonic() - step.started, str(exc)
            self.echo(f"{request.name} FAILED after {step.seconds:.2f}s")
            raise
        step.seconds, step.ok = time.monotonic() - step.started, True
        step.stdout = self.executor.stdout.get(request.name, "")
        step.op = self.executor.ops.get(request.name, step.op)
        with self._lock:
            self._done.add(response.urn)
        self.echo(f"{request.name} {_DONE.get(step.op, 'done')} in {step.seconds:.2f}s")
        return response

    def delete(self, record: Record, action: Callable[[], None]) -> None:
        """Run one deletion at the end of the ``up`` as a step of its own."""
        step = Step(record.name, record.type, time.monotonic(), op="delete")
        self.steps.append(step)
        self.echo(f"{record.name} (delete) ...")
        try:
            action()
        except Exception as exc:
            step.seconds, step.error = time.monotonic() - step.started, str(exc)
            self.echo(f"{record.name} delete FAILED after {step.seconds:.2f}s")
            raise
        step.seconds, step.ok = time.monotonic() - step.started, True
        self.echo(f"{record.name} deleted in {step.seconds:.2f}s")


def engine_config(values: Mapping[str, Any]) -> dict[str, str]:
    """Stack config as the CLI hands it to a program: text, with booleans as true/false and objects as JSON."""
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else json.dumps(value)

    return {key if ":" in key else f"{PROJECT}:{key}": text(value) for key, value in values.items()}


def run_program(project_dir: Path, stack: str, config: Mapping[str, Any], secret_keys: Iterable[str],
                mocks: pulumi.runtime.Mocks, monitor: MockMonitor) -> tuple[Optional[BaseException], dict, set]:
    """Run ``<project_dir>/infra`` as the language host does, under ``mocks``, in a fresh context and event loop:
    the SDK keeps its settings, config and root stack in context variables, and a failed run leaves tasks behind.

    :returns: the exception the program ended with (or ``None``), the stack outputs, the secret output names.
    """
    def run() -> tuple[Optional[BaseException], dict, set]:
        full = engine_config(config)
        pulumi.runtime.set_all_config(full, [k if ":" in k else f"{PROJECT}:{k}" for k in secret_keys])
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
        # A fresh context reads the SDK's defaults, and the default set of pending outputs is one shared object.
        pulumi.runtime.settings.SETTINGS.outputs = set()
        program = str(Path(project_dir) / "infra")
        try:
            _sync_await(run_pulumi_func(lambda: runpy.run_path(program, run_name="__main__")))
        except Exception as exc:  # the program's error is a result here, as `pulumi up` reports it
            return exc, {}, set()
        return (None, *_outputs())

    # As the language host does: a failed resource leaves futures whose exceptions nobody reads, and asyncio would
    # log each one when it is collected (formatting a traceback at whatever point the collector runs).
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return contextvars.Context().run(run)
    finally:
        _close(loop)


def up(project_dir: Path, stack: str, config: Mapping[str, Any], secret_keys: Iterable[str] = ("renderApiKey",),
       *, tune: Optional[Callable[[ResourceProvider], None]] = None,
       echo: Callable[[str], None] = lambda line: None, command_timeout: float = 1800.0,
       state: Optional[State] = None) -> UpResult:
    """One ``up`` of ``stack``: every resource applied for real, in dependency order, then the deletions.

    :param config: the stack's config (bare or ``tasks-cutover:`` keys; values as in a stack file).
    :param secret_keys: which keys are secrets (scrubbed from every message).
    :param echo: receives a progress line as each step starts and ends.
    :param state: the stack's state from earlier ``up``s (updated in place); ``None``: a fresh, empty stack.
    """
    secret_keys = list(secret_keys)
    full = engine_config(config)
    secrets = Secrets(v for k, v in full.items() if k.split(":", 1)[-1] in secret_keys)
    executor = Executor(full, PROJECT, project_dir, secrets, tune, command_timeout, state)
    monitor = Monitor(executor, echo)
    started = time.monotonic()
    error, outputs, secret_names = run_program(project_dir, stack, config, secret_keys, executor, monitor)
    if error is None:  # as the engine does: deletions only after every registration succeeded
        try:
            executor.finish(monitor.delete)
        except EngineError as exc:
            error = exc
    for name in secret_names:
        secrets.add(outputs.get(name))
    message = None if error is None else secrets.scrub(str(error))
    return UpResult(monitor.steps, outputs, frozenset(secret_names), message, time.monotonic() - started)


def _outputs() -> tuple[dict, set]:
    """The root stack's exports, resolved, and which of them are secret."""
    root = pulumi.runtime.settings.get_root_resource()
    values, secret = {}, set()
    for key, output in (getattr(root, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(output)
        values[key] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            secret.add(key)
    return values, secret


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a failed run left pending (registrations waiting for a failed dependency), close the loop."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    asyncio.set_event_loop(None)


def _run(argv: list[str], cwd: str, env: dict, stdin: Optional[str], timeout: float) -> tuple[int, str, str]:
    """Run a command in its own process group (a timeout kills everything it started)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, text=True, errors="replace", start_new_session=True,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return -1, out, err + f"\nkilled after {timeout:g}s"
    return proc.returncode, out, err
