"""Typed stack config for tasks-cutover, validated (formats, enums, guard rails) before any resource is declared."""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import pulumi
import yaml

from infra.render import _postgres_rules as rules
from infra.render.postgres import PostgresArgs

PROJECT = "tasks-cutover"
PRODUCTION = "prd"
STAGING = "stg"
PROJECT_DIR = Path(__file__).resolve().parent.parent
# The schema defaults of Pulumi.yaml, applied here too so a plain mapping (tests) behaves like the engine's config.
# "" means "not set" (see Pulumi.yaml); tests/infra/test_config.py checks both lists agree.
DEFAULTS: dict[str, Any] = {"renderApiUrl": "", "ownerId": "", "serviceId": "", "appUrl": "", "appDir": "",
                            "migrateDeploy": True, "maintenanceWindow": False, "sharedWithPrd": False,
                            "databaseUrl": "stack"}
# databaseUrl: where the service's DATABASE_URL points. "stack": this stack's database. "previous": the value the
# key held before this stack first set it (the service stays on, or goes back to, its old database).
DATABASE_URL_STACK = "stack"
DATABASE_URL_PREVIOUS = "previous"
DATABASE_URL_MODES = (DATABASE_URL_STACK, DATABASE_URL_PREVIOUS)

OWNER_ID = re.compile(r"(tea|usr)-[a-z0-9]{4,}")
SERVICE_ID = re.compile(r"srv-[a-z0-9]{4,}")
POSTGRES_ID = re.compile(r"dpg-[a-z0-9]{4,}-a")
# The fields of the structured keys, as spelt in the stack files.
DATABASE_FIELDS = ("name", "plan", "version", "region", "databaseName", "databaseUser", "diskSizeGb",
                   "highAvailability", "ipAllowList", "adoptId", "allowReplace", "protect", "retainOnDelete")
IMPORT_FIELDS = ("enabled", "source", "replace", "stripNul")
_URL = re.compile(r"https?://[^\s/?#]+[^\s]*")
_UNSET = object()


class ConfigError(pulumi.RunError):
    """The stack config is unusable; ``problems`` holds one line per problem, each naming its key and its fix.

    A ``pulumi.RunError``: Pulumi prints the message without a stack trace. Secret values never appear in it.
    """

    def __init__(self, stack: str, problems: list[str]):
        self.stack = stack
        self.problems = tuple(problems)
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"stack {stack!r}: the configuration has {count}; nothing was changed:\n{lines}")


class SecretText:
    """A secret string that never shows in ``repr``/``str``; ``reveal()`` hands it to code that needs it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretText('[secret]')"

    __str__ = __repr__


@dataclass(frozen=True)
class DatabaseConfig:
    """``tasks-cutover:database``: the stack's Render Postgres and how Pulumi must treat it."""

    name: str
    plan: str
    version: str
    region: str = rules.DEFAULT_REGION
    database_name: Optional[str] = None
    database_user: Optional[str] = None
    disk_size_gb: Optional[int] = None
    high_availability: Optional[bool] = None
    # None: not declared (Render keeps its own list); entries are {"cidr_block", "description"}.
    ip_allow_list: Optional[tuple[Mapping[str, str], ...]] = None
    adopt_id: Optional[str] = None
    allow_replace: bool = False
    protect: bool = False
    retain_on_delete: bool = False

    def resource_options(self) -> pulumi.ResourceOptions:
        """``protect`` and ``retain_on_delete`` as declared; merge ``depends_on`` and the like onto it."""
        return pulumi.ResourceOptions(protect=self.protect, retain_on_delete=self.retain_on_delete)


@dataclass(frozen=True)
class ImportConfig:
    """``tasks-cutover:import``: whether and what ``python -m migrate import`` (+ verify) copies into the database."""

    enabled: bool = False
    source: Optional[Path] = None  # absolute: the SQLite snapshot, or the JSON export (file or directory)
    replace: bool = False
    strip_nul: bool = False


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs from one stack's config, checked. Paths are absolute."""

    stack: str
    project_dir: Path
    api_key: SecretText  # the providers read it from config themselves; see render_api_key
    render_api_url: Optional[str]  # None: RENDER_API_URL or Render's public API
    owner_id: str
    service_id: str
    app_url: str
    app_dir: Optional[Path]
    migrate_deploy: bool
    maintenance_window: bool
    shared_with_prd: bool
    database: DatabaseConfig
    data_import: ImportConfig
    database_url: Optional[str] = DATABASE_URL_STACK  # one of DATABASE_URL_MODES (None: invalid, reported)

    @property
    def is_production(self) -> bool:
        return self.stack == PRODUCTION

    @property
    def uses_stack_database(self) -> bool:
        """True when DATABASE_URL points at this stack's database; False while it keeps its previous value."""
        return self.database_url == DATABASE_URL_STACK

    @property
    def render_api_key(self) -> pulumi.Output[str]:
        """The API key as a secret Output (what ``Config.require_secret`` returns), made when asked for, so a
        config loaded outside the engine (tests) needs no event loop."""
        return pulumi.Output.secret(self.api_key.reveal())

    def postgres_args(self) -> PostgresArgs:
        """The RenderPostgres inputs for this stack's database."""
        db = self.database
        allow = None if db.ip_allow_list is None else [dict(e) for e in db.ip_allow_list]
        return PostgresArgs(name=db.name, owner_id=self.owner_id, plan=db.plan, version=db.version, region=db.region,
                            database_name=db.database_name, database_user=db.database_user,
                            disk_size_gb=db.disk_size_gb, ip_allow_list=allow,
                            high_availability=db.high_availability, adopt_id=db.adopt_id,
                            allow_replace=db.allow_replace)


ConfigSource = Union[pulumi.Config, Mapping[str, Any]]


def load_config(cfg: ConfigSource, stack: str, *, project_dir: Optional[Path] = None) -> StackConfig:
    """Read and check the whole stack config; call it before declaring any resource.

    :param cfg: ``pulumi.Config()`` in the program, or a mapping of ``tasks-cutover:<key>`` (or bare ``<key>``)
        to values (strings as the engine passes them, or parsed YAML values as in a stack file).
    :param stack: the stack name; ``prd`` gets the production rules.
    :param project_dir: where Pulumi.yaml and Pulumi.stg.yaml live; relative paths in the config resolve
        against it. Default: the directory above ``infra/``.
    :raises ConfigError: listing every problem at once.
    """
    from infra import guards  # guards reads StackConfig from here

    project_dir = Path(project_dir) if project_dir is not None else PROJECT_DIR
    reader = _Reader(cfg, stack, project_dir)
    config = reader.stack_config()
    problems = reader.problems + guards.check(config)
    if problems:
        raise ConfigError(stack, problems)
    return config


def fix(key: str, example: str, stack: str, *, secret: bool = False) -> str:
    """The `pulumi config set` command that sets ``key`` (a dotted path for structured keys) on ``stack``."""
    if secret:
        # No value on the command line: the CLI prompts for it, which keeps it out of shell history.
        return f"pulumi config set --secret {key} --stack {stack}"
    path = "--path " if "." in key or "[" in key else ""
    return f"pulumi config set {path}{shlex.quote(key)} {shlex.quote(example)} --stack {stack}"


def read_stack_file(project_dir: Path, stack: str) -> dict[str, Any]:
    """The ``config`` section of ``Pulumi.<stack>.yaml`` (full keys, values as parsed YAML).

    :raises OSError: when the file cannot be read; :raises yaml.YAMLError: when it is not YAML.
    """
    text = (Path(project_dir) / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    return dict(data.get("config") or {})


class _Reader:
    """Reads typed values from ``pulumi.Config`` or a mapping, collecting one problem line per bad key."""

    def __init__(self, cfg: ConfigSource, stack: str, project_dir: Path):
        self.cfg, self.stack, self.project_dir = cfg, stack, project_dir
        self.problems: list[str] = []

    def raw(self, key: str) -> Any:
        if isinstance(self.cfg, pulumi.Config):
            value = self.cfg.get(key)
        else:
            value = self.cfg.get(f"{PROJECT}:{key}", self.cfg.get(key))
        return DEFAULTS.get(key) if value is None else value

    def problem(self, key: str, what: str, example: str, *, secret: bool = False) -> None:
        self.problems.append(f"{key} {what}; fix: {fix(key, example, self.stack, secret=secret)}")

    def stack_config(self) -> StackConfig:
        database = _Section(self, "database", self.raw("database"), DATABASE_FIELDS)
        migrate_deploy = _flag(self, "migrateDeploy", self.raw("migrateDeploy"))
        return StackConfig(
            stack=self.stack, project_dir=self.project_dir, api_key=self.api_key(),
            render_api_url=self.text("renderApiUrl", "https://api.render.com/v1", required=False, pattern=_URL,
                                     form="an http(s) URL"),
            owner_id=self.text("ownerId", "tea-xxxxxxxxxxxxxxxxxxxx", pattern=OWNER_ID,
                               form="a Render owner id (tea-... for a team, usr-... for a user)") or "",
            service_id=self.text("serviceId", "srv-xxxxxxxxxxxxxxxxxxxx", pattern=SERVICE_ID,
                                 form="a Render service id (srv-...)") or "",
            app_url=self.text("appUrl", "https://tasks.onrender.com", pattern=_URL, form="an http(s) URL") or "",
            app_dir=self.app_dir(required=migrate_deploy),
            migrate_deploy=migrate_deploy,
            maintenance_window=_flag(self, "maintenanceWindow", self.raw("maintenanceWindow")),
            shared_with_prd=_flag(self, "sharedWithPrd", self.raw("sharedWithPrd")),
            database=database.database(),
            data_import=_Section(self, "import", self.raw("import"), IMPORT_FIELDS).data_import(),
            database_url=self.text("databaseUrl", DATABASE_URL_STACK, pattern=_one_of(DATABASE_URL_MODES),
                                   form=f"one of {', '.join(DATABASE_URL_MODES)}"),
        )

    def api_key(self) -> SecretText:
        raw = self.raw("renderApiKey")
        if not isinstance(raw, str) or not raw.strip():
            self.problem("renderApiKey", "is missing: a Render API key, kept encrypted in the stack file", "",
                         secret=True)
            return SecretText("")
        return SecretText(raw.strip())

    def text(self, key: str, example: str, *, required: bool = True, pattern: Optional[re.Pattern] = None,
             form: str = "text", value: Any = _UNSET) -> Optional[str]:
        """A string value (``value``, else the top-level ``key``); blank counts as unset. Problems name ``key``."""
        if value is _UNSET:
            value = self.raw(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(key, f"is missing: {form}", example)
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # a YAML number where text is meant, e.g. version: 15
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value.strip())):
            self.problem(key, f"must be {form}, got {value!r}", example)
            return None
        return value.strip()

    def app_dir(self, *, required: bool) -> Optional[Path]:
        text = self.text("appDir", "../tasks-app", required=required,
                         form="the Prisma app directory, needed because migrateDeploy is true")
        if text is None:
            return None
        path = (self.project_dir / text).resolve()
        if not (path / "prisma" / "migrations").is_dir():
            self.problem("appDir", f"must be a Prisma app directory with prisma/migrations; {path} has none",
                         "../tasks-app")
        return path


class _Section:
    """One structured key (``database``, ``import``): a mapping whose fields are read with dotted names."""

    def __init__(self, reader: _Reader, key: str, raw: Any, fields: tuple[str, ...]):
        self.reader, self.key = reader, key
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)  # pulumi.Config hands structured values over as JSON text
            except ValueError:
                pass
        if raw is not None and not isinstance(raw, Mapping):
            reader.problems.append(f"{key} must be an object (a YAML mapping), got {type(raw).__name__}; fix: "
                                   f"edit tasks-cutover:{key} in Pulumi.{reader.stack}.yaml")
            raw = None
        self.values: Mapping[str, Any] = raw or {}
        for name in sorted(set(self.values) - set(fields)):
            # A typo must not pass silently: a misspelt adoptId would create a new database instead of adopting.
            reader.problems.append(f"{key}.{name} is not a field of {key} (known: {', '.join(fields)}); fix: "
                                   f"pulumi config rm --path {shlex.quote(f'{key}.{name}')} --stack {reader.stack}")

    def text(self, name: str, example: str, **kwargs: Any) -> Optional[str]:
        return self.reader.text(f"{self.key}.{name}", example, value=self.values.get(name), **kwargs)

    def flag(self, name: str, default: bool = False) -> bool:
        return _flag(self.reader, f"{self.key}.{name}", self.values.get(name), default)

    def database(self) -> DatabaseConfig:
        plans, regions, versions = (_one_of(rules.PLANS), _one_of(rules.REGIONS), _one_of(rules.VERSIONS))
        return DatabaseConfig(
            name=self.text("name", "tasks-db", form="the database's name in Render") or "",
            plan=self.text("plan", "basic_1gb", pattern=plans,
                           form=f"a Render Postgres plan ({_list(rules.PLANS)})") or "",
            version=self.text("version", "15", pattern=versions,
                              form=f"a PostgreSQL version ({_list(rules.VERSIONS)})") or "",
            region=self.text("region", rules.DEFAULT_REGION, required=False, pattern=regions,
                             form=f"a Render region ({_list(rules.REGIONS)})") or rules.DEFAULT_REGION,
            database_name=self.text("databaseName", "tasks", required=False, pattern=_IDENT, form=_IDENT_FORM),
            database_user=self.text("databaseUser", "tasks", required=False, pattern=_IDENT, form=_IDENT_FORM),
            disk_size_gb=self.disk_size(),
            high_availability=self.flag("highAvailability") if "highAvailability" in self.values else None,
            ip_allow_list=self.ip_allow_list(),
            adopt_id=self.text("adoptId", "dpg-xxxxxxxxxxxxxxxxxxxx-a", required=False, pattern=POSTGRES_ID,
                               form="a Render Postgres id (dpg-...-a)"),
            allow_replace=self.flag("allowReplace"), protect=self.flag("protect"),
            retain_on_delete=self.flag("retainOnDelete"),
        )

    def disk_size(self) -> Optional[int]:
        value = self.values.get("diskSizeGb")
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1 or (value != 1 and value % 5):
            self.reader.problem("database.diskSizeGb", f"must be 1 or a multiple of 5 (GB), got {value!r}", "15")
            return None
        return value

    def ip_allow_list(self) -> Optional[tuple[Mapping[str, str], ...]]:
        entries = self.values.get("ipAllowList")
        if entries is None:
            return None
        if not isinstance(entries, list):
            self.reader.problem("database.ipAllowList", "must be a list of {cidrBlock, description}",
                                "203.0.113.7/32")
            return None
        out = []
        for index, entry in enumerate(entries):
            cidr = entry.get("cidrBlock") if isinstance(entry, Mapping) else None
            if parse_cidr(cidr) is None:
                self.reader.problem(f"database.ipAllowList[{index}].cidrBlock",
                                    f"must be a CIDR block like 203.0.113.7/32, got {cidr!r}", "203.0.113.7/32")
                continue
            out.append({"cidr_block": str(cidr).strip(), "description": str(entry.get("description") or "")})
        return tuple(out)

    def data_import(self) -> ImportConfig:
        enabled = self.flag("enabled")
        source = self.text("source", "backups/tasks.db", required=enabled,
                           form="the SQLite snapshot or JSON export to import, needed because import.enabled is true")
        path = (self.reader.project_dir / source).resolve() if source else None
        if path is not None and not path.exists():
            self.reader.problem("import.source", f"does not exist: {path}", "backups/tasks.db")
        return ImportConfig(enabled=enabled, source=path, replace=self.flag("replace"),
                            strip_nul=self.flag("stripNul"))


_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_IDENT_FORM = "a PostgreSQL name (lowercase letters, digits, underscores)"


def parse_cidr(value: Any) -> Optional[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The network a CIDR block names (host bits allowed, as Render does), or ``None`` if it is not one."""
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False) if isinstance(value, str) else None
    except ValueError:
        return None


def _flag(reader: _Reader, key: str, value: Any, default: bool = False) -> bool:
    """A boolean: YAML true/false, or the text "true"/"false" the engine passes."""
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, bool):
        return value
    reader.problem(key, f"must be true or false, got {value!r}", "true")
    return default


def _one_of(values: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(re.escape(v) for v in values))


def _list(values: tuple[str, ...]) -> str:
    return ", ".join(values)
