"""RenderPostgres: a Render Postgres database (create, adopt, upgrade in place, refresh, delete) for Pulumi."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, NoReturn, Optional, Sequence

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from infra.render import _postgres_rules as rules
from infra.render._provider import ProviderError, RenderProvider, is_unknown, pick
from infra.render.client import RenderClient
from infra.render.errors import RenderNotFound

INPUTS = ("name", "owner_id", "plan", "region", "version", "database_name", "database_user", "disk_size_gb",
          "ip_allow_list", "high_availability", "adopt_id", "allow_replace")
OUTPUTS = ("status", "dashboard_url", "expires_at", "adopted", "internal_connection_string",
           "external_connection_string")
SECRET_OUTPUTS = ["internal_connection_string", "external_connection_string"]
# Statuses from which a database will not become available without someone acting on it.
_STUCK = ("suspended", "recovery_failed")


class PostgresProvider(RenderProvider):
    """CRUD for one Render Postgres database.

    - ``check`` and ``diff`` never call the API. ``check`` refuses unknown plans/regions/versions, downgrades,
      and changes that need a new database unless ``allow_replace``.
    - ``create`` adopts ``adopt_id`` (verifying it matches the declaration; it never changes it), else takes
      over a same-named database in the workspace that matches the declaration (a create whose reply was lost),
      else POSTs; then it waits until ``available``.
    - ``delete`` never deletes an adopted database and treats 404 as done.
    - ``read`` (refresh) makes two GETs and drops the resource on 404.
    """

    timeout = 15 * 60.0  # Render's Terraform provider waits as long; creation usually takes about a minute
    find_again = 3  # lookups after a POST that got no reply, a poll apart

    def check(self, olds: dict, news: dict) -> CheckResult:
        """Validate the inputs on their own and against the old inputs; no API calls."""
        inputs = rules.normalize(news)
        problems = rules.field_errors(inputs)
        if olds:
            problems += rules.change_errors(rules.normalize(olds), inputs)
        return CheckResult(inputs, [CheckFailure(field, reason) for field, reason in problems])

    def diff(self, id_: str, olds: dict, news: dict) -> DiffResult:
        """Compare the new inputs with the old outputs (what Render had); no API calls.

        :raises ProviderError: for a replacement without ``allow_replace`` that check could not see (the old
            inputs left the field to Render).
        """
        news = rules.normalize(news)  # as check returned it; normalizing twice changes nothing
        pending = [f for f in rules.IMMUTABLE if is_unknown(news.get(f))]
        replaces = [f for f in rules.IMMUTABLE if f not in pending and not rules.same(f, news.get(f), olds.get(f))]
        if replaces and not news.get("allow_replace"):
            field = replaces[0]
            raise ProviderError(f"postgres {id_}: " + rules.replace_reason(field, olds.get(field), news.get(field)))
        adopt = news.get("adopt_id")
        if adopt and not is_unknown(adopt) and adopt != id_:
            if not olds.get("adopted") and not news.get("allow_replace"):
                raise ProviderError(f"postgres {id_}: adopt_id {adopt!r} names another database; switching to it "
                                    f"would delete {id_}, which this stack created, and the data would have to "
                                    f"move; set allow_replace=True only after planning that move")
            replaces.append("adopt_id")
        updates = pending + [f for f in rules.PATCHABLE if _differs(f, news.get(f), olds.get(f))]
        if adopt == id_ and not olds.get("adopted"):
            updates.append("adopt_id")
        return DiffResult(changes=bool(replaces or updates), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict) -> CreateResult:
        """Adopt, take over or create the database, wait until available, return its outputs.

        :raises ProviderError: on an adoption mismatch, a same-named database that does not match, or a timeout.
        """
        inputs = pick(rules.normalize(props), INPUTS)
        with self._client() as client:
            if inputs["adopt_id"]:
                db = self._adoptable(client, inputs)
            else:
                db = self._find(client, inputs) or self._post(client, inputs)
            db = self._until_available(client, db["id"])
            outs = _outputs(inputs, db, self._connection(client, db["id"]), adopted=bool(inputs["adopt_id"]))
        return CreateResult(db["id"], outs)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        """PATCH what changed (plan, disk, HA, allow list, name), wait until available, return the outputs."""
        inputs = pick(rules.normalize(news), INPUTS)
        body = {api: _api_value(f, inputs[f]) for f, api in rules.PATCHABLE.items()
                if _differs(f, inputs[f], olds.get(f))}
        with self._client() as client:
            if body:
                # Render answers 409 to a PATCH while the database is not available (e.g. still creating).
                self._until_available(client, id_)
                client.patch(f"/postgres/{id_}", json=body)
            db = self._until_available(client, id_)
            adopted = bool(olds.get("adopted")) or inputs["adopt_id"] == id_
            outs = _outputs(inputs, db, self._connection(client, id_), adopted=adopted)
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict) -> None:
        """Delete the database unless it was adopted; a 404 means it is already gone."""
        if props.get("adopted"):
            return
        with self._client() as client:
            try:
                client.delete(f"/postgres/{id_}")
            except RenderNotFound:
                pass

    def read(self, id_: str, props: dict) -> ReadResult:
        """Refresh from Render with two GETs (database, connection info); a blank id when it is gone."""
        with self._client() as client:
            try:
                db = client.get(f"/postgres/{id_}")
            except RenderNotFound:
                return ReadResult("", {})
            info = self._connection(client, id_)
        outs = _outputs(pick(props, INPUTS), db, info, adopted=bool(props.get("adopted")))
        # Refreshed inputs are Render's values, so the next check judges a change against reality (a plan
        # raised in the dashboard makes the old declared plan a downgrade). Fields the program leaves to
        # Render (None) and the suffixed database name still compare equal in check and diff.
        return ReadResult(id_, outs, pick(outs, INPUTS))

    def _adoptable(self, client: RenderClient, inputs: dict) -> dict:
        try:
            db = client.get(f"/postgres/{inputs['adopt_id']}")
        except RenderNotFound:
            raise ProviderError(f"cannot adopt {inputs['adopt_id']}: no such database for this API key") from None
        _require_match(db, inputs, f"cannot adopt {db['id']}")
        return db

    def _find(self, client: RenderClient, inputs: dict) -> dict | None:
        """The database named ``name`` in the owner's workspace, if any; it must match the declaration."""
        found = [db for db in client.iter_items("/postgres", "postgres", name=[inputs["name"]],
                                                ownerId=[inputs["owner_id"]])
                 if db.get("name") == inputs["name"] and _owner(db) == inputs["owner_id"]]
        if len(found) > 1:
            ids = ", ".join(db["id"] for db in found)
            raise ProviderError(f"{len(found)} databases are named {inputs['name']!r} in {inputs['owner_id']} "
                                f"({ids}): set adopt_id to the one to manage, or choose another name")
        if found:
            _require_match(found[0], inputs, f"a database named {inputs['name']!r} already exists "
                                             f"({found[0]['id']}) but does not match")
        return found[0] if found else None

    def _post(self, client: RenderClient, inputs: dict) -> dict:
        body = {"name": inputs["name"], "ownerId": inputs["owner_id"], "plan": inputs["plan"],
                "region": inputs["region"], "version": inputs["version"]}
        body.update({api: _api_value(f, inputs[f]) for f, api in
                     (("database_name", "databaseName"), ("database_user", "databaseUser"),
                      *((f, a) for f, a in rules.PATCHABLE.items() if f not in ("name", "plan")))
                     if inputs[f] is not None})
        created = self._post_create(client, "/postgres", body, lambda: self._find_again(client, inputs))
        return created or self._find_again(client, inputs) or _no_reply(inputs)

    def _find_again(self, client: RenderClient, inputs: dict) -> dict | None:
        """After a lost reply: the database may take a moment to be listed."""
        for attempt in range(self.find_again):
            if attempt:
                self.sleep(self.poll_first)
            found = self._find(client, inputs)
            if found:
                return found
        return None

    def _until_available(self, client: RenderClient, id_: str) -> dict:
        return self._wait_for(f"postgres {id_}", lambda: client.get(f"/postgres/{id_}"), goal="available",
                              failed=_STUCK, timeout=self.timeout)

    @staticmethod
    def _connection(client: RenderClient, id_: str) -> dict:
        return client.get(f"/postgres/{id_}/connection-info") or {}


def _no_reply(inputs: Mapping[str, Any]) -> NoReturn:
    raise ProviderError(f"Render accepted the database {inputs['name']!r} without returning it, and it is not "
                        f"listed in {inputs['owner_id']}; look in the dashboard before trying again")


def _differs(field: str, declared: Any, old: Any) -> bool:
    if is_unknown(declared):
        return True  # decided again when the value is known; never a replacement on a guess
    return not rules.same(field, declared, old)


def _api_value(field: str, value: Any) -> Any:
    if field == "ip_allow_list":
        return [{"cidrBlock": e["cidr_block"], "description": e.get("description") or ""} for e in value or ()]
    return value


def _owner(db: Mapping[str, Any]) -> Any:
    return (db.get("owner") or {}).get("id", db.get("ownerId"))


def _live(db: Mapping[str, Any]) -> dict[str, Any]:
    """Render's view of the input fields."""
    return {
        "name": db.get("name"), "owner_id": _owner(db), "plan": db.get("plan"), "region": db.get("region"),
        "version": db.get("version"), "database_name": db.get("databaseName"),
        "database_user": db.get("databaseUser"), "disk_size_gb": db.get("diskSizeGB"),
        "high_availability": db.get("highAvailabilityEnabled"),
        "ip_allow_list": [{"cidr_block": e.get("cidrBlock"), "description": e.get("description") or ""}
                          for e in db.get("ipAllowList") or ()],
    }


def _require_match(db: Mapping[str, Any], inputs: Mapping[str, Any], what: str) -> None:
    """Refuse to take over a database that differs from the declaration; the message names every difference."""
    live = _live(db)
    wrong = [f for f in (*rules.IMMUTABLE, *rules.PATCHABLE) if not rules.same(f, inputs.get(f), live[f])]
    if not wrong:
        return
    details = "; ".join(f"{f} is {live[f]!r}, declared {inputs.get(f)!r}" for f in wrong)
    fixed = [f for f in wrong if f in rules.IMMUTABLE]
    hints = [f"{', '.join(fixed)} cannot change without a new database"] if fixed else []
    if len(fixed) < len(wrong):
        hints.append("taking a database over never changes it: declare its current values, then change them "
                     "in a later update, where the preview shows it")
    raise ProviderError(f"{what}: {details} ({'; '.join(hints)}); see {db.get('dashboardUrl', 'the dashboard')}")


def _outputs(inputs: Mapping[str, Any], db: Mapping[str, Any], info: Mapping[str, Any], *, adopted: bool) -> dict:
    """All inputs (as Render has them) plus the computed outputs; diff/update/delete see exactly this."""
    outs = {**{f: inputs.get(f) for f in INPUTS}, **_live(db)}
    outs.update(adopt_id=inputs.get("adopt_id"), allow_replace=bool(inputs.get("allow_replace")),
                status=db.get("status"), dashboard_url=db.get("dashboardUrl"), expires_at=db.get("expiresAt"),
                adopted=adopted, internal_connection_string=info.get("internalConnectionString"),
                external_connection_string=info.get("externalConnectionString"))
    return outs


@dataclass
class PostgresArgs:
    """Inputs of a RenderPostgres.

    ``database_name`` is the prefix (Render appends ``_<random>``); ``ip_allow_list`` items are
    ``{"cidr_block": ..., "description": ...}``; ``None`` leaves a field as Render has or picks it.
    ``adopt_id`` takes over an existing database (never deleted by this stack); ``allow_replace`` permits
    changes that need a new database (region, version, database name/user, owner).
    """

    name: pulumi.Input[str]
    owner_id: pulumi.Input[str]
    plan: pulumi.Input[str]
    version: pulumi.Input[str]
    region: pulumi.Input[str] = rules.DEFAULT_REGION
    database_name: Optional[pulumi.Input[str]] = None
    database_user: Optional[pulumi.Input[str]] = None
    disk_size_gb: Optional[pulumi.Input[int]] = None
    ip_allow_list: Optional[Sequence[Mapping[str, str]]] = None
    high_availability: Optional[pulumi.Input[bool]] = None
    adopt_id: Optional[pulumi.Input[str]] = None
    allow_replace: bool = False


class RenderPostgres(Resource, module="render", name="Postgres"):
    """A Render Postgres database. The connection strings are always secret outputs.

    Outputs: every input (as Render has it; ``database_name`` with its suffix), ``status``, ``dashboard_url``,
    ``expires_at`` (free plan), ``adopted``, ``internal_connection_string``, ``external_connection_string``.
    """

    status: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]
    database_name: pulumi.Output[str]
    database_user: pulumi.Output[str]
    expires_at: pulumi.Output[Optional[str]]
    adopted: pulumi.Output[bool]
    internal_connection_string: pulumi.Output[str]
    external_connection_string: pulumi.Output[str]

    def __init__(self, resource_name: str, args: PostgresArgs, opts: Optional[pulumi.ResourceOptions] = None):
        props: dict[str, Any] = {f.name: getattr(args, f.name) for f in fields(args)}
        props.update({name: None for name in OUTPUTS})
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS))
        super().__init__(PostgresProvider(), resource_name, props, opts)
