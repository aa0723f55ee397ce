"""The local engine's state between ``up``s: each resource's inputs and outputs, and the engine's diff rules.

A second ``up`` with the same ``State`` does what ``pulumi up`` does with an existing stack, reduced to the
provider calls (pulumi/pulumi pkg/resource/deploy, ``step_generator.go`` and ``step.go``):

- each registered resource that is already in the state: dynamic ones get ``check(old inputs, news)`` and
  ``diff(id, old outputs, checked news)``, then nothing (``same``), ``update``, or a replacement (``create`` of
  the new one now, ``delete`` of the old one after the program); a protected resource is never replaced.
  Commands follow pulumi-command: a change of ``triggers`` replaces (runs ``create`` again), any other change is an
  update (runs ``update``, else ``create``), and its ``delete`` command, if any, runs when it is deleted;
- after the program: resources it no longer declares are deleted (newest first), then the replaced ones. A
  ``retain_on_delete`` resource leaves the state without its provider's ``delete``; a protected one fails the
  ``up``. Unlike the real engine, which refuses that in the preview before changing anything, this finds it only
  after the program ran: a rehearsal must not rely on it. After a failed ``up`` nothing is deleted, and the old
  halves of replacements made before the failure are forgotten (the engine would keep them pending delete).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

COMMAND = "command:local:Command"
PROVIDER_KEY = "__provider"


@dataclass
class Record:
    """One resource as the last ``up`` left it: inputs and outputs in plain form, and what the program got back."""

    type: str
    name: str
    id: str
    inputs: dict
    outs: dict
    returned: dict  # the outputs with secrets wrapped, as the monitor handed them to the program
    protect: bool = False
    retain_on_delete: bool = False


@dataclass
class State:
    """Every resource of one stack, in creation order; keep one per stack across ``up``s."""

    records: dict[tuple[str, str], Record] = field(default_factory=dict)

    def get(self, type_: str, name: str) -> Optional[Record]:
        return self.records.get((type_, name))

    def put(self, record: Record) -> None:
        self.records.pop((record.type, record.name), None)  # a replacement is the newest
        self.records[(record.type, record.name)] = record


class Refused(Exception):
    """What the engine refuses to do (a protected resource deleted or replaced); nothing about it was changed."""


def command_op(old: Record, props: dict) -> str:
    """``same``, ``update`` or ``replace`` for a command, per pulumi-command (triggers always replace).

    :raises Refused: for a replacement of a protected command.
    """
    if (old.inputs.get("triggers") or []) != (props.get("triggers") or []):
        if old.protect:
            raise Refused(f"{old.name}: unable to replace the protected resource (replaces triggers)")
        return "replace"
    return "same" if old.inputs == props else "update"


def dynamic_op(provider: Any, old: Record, checked: dict, name: str) -> str:
    """``same``, ``update`` or ``replace`` from the provider's ``diff`` (an unknown answer compares the inputs).

    :raises Refused: for a replacement of a protected resource.
    """
    diff = provider.diff(old.id, old.outs, checked)
    changes = diff.changes
    if changes is None:
        changes = _without_provider(old.inputs) != _without_provider(checked)
    if not changes:
        return "same"
    if diff.replaces:
        if old.protect:
            raise Refused(f"{name}: unable to replace the protected resource (replaces {', '.join(diff.replaces)})")
        return "replace"
    return "update"


def leftovers(state: State, declared: set[tuple[str, str]], replaced: list[Record]) -> list[Record]:
    """What the end of the ``up`` deletes, in order: undeclared resources newest first, then replaced ones.

    :raises Refused: when an undeclared resource is protected (then nothing is deleted).
    """
    gone = [r for key, r in reversed(state.records.items()) if key not in declared]
    protected = [r.name for r in gone if r.protect]
    if protected:
        raise Refused(f"{', '.join(protected)}: cannot be deleted because it is protected; nothing was deleted")
    return gone + list(reversed(replaced))


def delete_all(state: State, doomed: list[Record], delete: Callable[[Record], None]) -> list[str]:
    """Delete each record (``delete`` unless it is retained) and drop it from the state; the names deleted."""
    done = []
    for record in doomed:
        if not record.retain_on_delete:
            delete(record)
            done.append(record.name)
        current = state.get(record.type, record.name)
        if current is record:
            del state.records[(record.type, record.name)]
    return done


def _without_provider(values: dict) -> dict:
    return {k: v for k, v in values.items() if k != PROVIDER_KEY}
