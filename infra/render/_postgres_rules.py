"""Pure rules for Render Postgres: allowed plans/regions/versions, plan order, and what needs a new database."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Mapping

from infra.render._provider import is_unknown

# Copied from Render's OpenAPI document (tests/infra/test_postgres_rules.py compares them with it when present):
# the document is not available where `pulumi` runs, and a plan it does not list is refused by the API anyway.
PLANS = (
    "free", "starter", "standard", "pro", "pro_plus", "custom",
    "basic_256mb", "basic_1gb", "basic_4gb",
    "pro_4gb", "pro_8gb", "pro_16gb", "pro_32gb", "pro_64gb", "pro_128gb", "pro_192gb", "pro_256gb",
    "pro_384gb", "pro_512gb",
    "accelerated_16gb", "accelerated_32gb", "accelerated_64gb", "accelerated_128gb", "accelerated_256gb",
    "accelerated_384gb", "accelerated_512gb", "accelerated_768gb", "accelerated_1024gb",
)
REGIONS = ("frankfurt", "oregon", "ohio", "singapore", "virginia")
VERSIONS = ("11", "12", "13", "14", "15", "16", "17")
DEFAULT_REGION = "oregon"

# Fields Render cannot change in place (not in the PATCH schema): a change means a new database.
IMMUTABLE = ("owner_id", "region", "version", "database_name", "database_user")
# Fields that PATCH /postgres/{id} changes, with the API's spelling.
PATCHABLE = {"name": "name", "plan": "plan", "disk_size_gb": "diskSizeGB",
             "high_availability": "enableHighAvailability", "ip_allow_list": "ipAllowList"}
# Fields that, when declared as None, are left as Render has them.
OPTIONAL = ("database_name", "database_user", "disk_size_gb", "high_availability", "ip_allow_list")

# Legacy plans by memory (Render's legacy table); current ones spell it in the name.
_LEGACY_MB = {"free": 256, "starter": 256, "standard": 1024, "pro": 4096, "pro_plus": 8192}
_FAMILIES = ("free", "legacy", "basic", "pro", "accelerated")
_SIZED = re.compile(r"^(basic|pro|accelerated)_(\d+)(mb|gb)$")
_HA_PLAN = re.compile(r"^(pro|accelerated)_")


def plan_rank(plan: str) -> tuple[int, int] | None:
    """(memory in MB, family) for ordering plans; ``None`` for ``custom``, which has no public size."""
    if plan in _LEGACY_MB:
        return _LEGACY_MB[plan], _FAMILIES.index("free" if plan == "free" else "legacy")
    found = _SIZED.match(plan)
    if not found:
        return None
    family, size, unit = found.groups()
    return int(size) * (1024 if unit == "gb" else 1), _FAMILIES.index(family)


def plan_downgrade(old: str, new: str) -> bool:
    """True if moving from ``old`` to ``new`` is smaller, or back from a current-generation plan to a legacy one."""
    old_rank, new_rank = plan_rank(old), plan_rank(new)
    if old_rank is None or new_rank is None or old == new:
        return False
    legacy = _FAMILIES.index("legacy")
    if old_rank[1] > legacy and new_rank[1] <= legacy:
        return True  # Render: a database moved to a current-generation plan cannot go back
    return new_rank < old_rank


def name_matches(declared: Any, actual: Any) -> bool:
    """Render appends ``_<random>`` to a requested databaseName: ``tasks`` matches ``tasks`` and ``tasks_x8qa``."""
    if declared in (None, ""):
        return True  # not declared: Render picked one
    return isinstance(actual, str) and re.fullmatch(re.escape(declared) + r"(_[a-z0-9]+)?", actual) is not None


def same(field: str, declared: Any, actual: Any) -> bool:
    """Whether a declared input equals what Render has (or had), with each field's own notion of equal."""
    if field in OPTIONAL and declared is None:
        return True
    if field == "database_name":
        return name_matches(declared, actual)
    if field == "ip_allow_list":
        return _allow_set(declared) == _allow_set(actual)
    return declared == actual


def _allow_set(entries: Any) -> set[tuple[str, str]]:
    # Render returns null for an empty list and keeps its own order.
    return {(e.get("cidr_block"), e.get("description", "")) for e in entries or ()}


def normalize(news: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs with defaults filled in and values in one spelling (version as text, allow list in snake_case)."""
    out = dict(news)
    if out.get("region") is None:
        out["region"] = DEFAULT_REGION
    if isinstance(out.get("version"), int) and not isinstance(out.get("version"), bool):
        out["version"] = str(out["version"])
    out["allow_replace"] = bool(out.get("allow_replace") or False)
    entries = out.get("ip_allow_list")
    if isinstance(entries, list) and not is_unknown(entries):
        out["ip_allow_list"] = [
            {"cidr_block": e.get("cidr_block", e.get("cidrBlock")), "description": e.get("description") or ""}
            if isinstance(e, Mapping) else e for e in entries]
    return out


def field_errors(news: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) for each input that is invalid on its own (unknown values are not judged)."""
    errors: list[tuple[str, str]] = []
    known = {k: v for k, v in news.items() if not is_unknown(v)}
    for field in ("name", "owner_id", "plan", "version"):
        if field in known and (not isinstance(known[field], str) or not known[field].strip()):
            errors.append((field, f"{field} is required (a non-empty string)"))
    for field, allowed in (("plan", PLANS), ("region", REGIONS), ("version", VERSIONS)):
        value = known.get(field)
        if isinstance(value, str) and value.strip() and value not in allowed:
            errors.append((field, f"unknown {field} {value!r}; Render accepts: {', '.join(allowed)}"))
    errors += _disk_errors(known.get("disk_size_gb"))
    errors += _allow_list_errors(known.get("ip_allow_list"))
    errors += _ha_errors(known)
    adopt = known.get("adopt_id")
    if adopt is not None and (not isinstance(adopt, str) or not adopt.startswith("dpg-")):
        errors.append(("adopt_id", f"adopt_id must be a Render Postgres id like 'dpg-...-a', got {adopt!r}"))
    return errors


def _disk_errors(disk: Any) -> list[tuple[str, str]]:
    if disk is None:
        return []
    if not isinstance(disk, int) or isinstance(disk, bool) or disk < 1 or (disk != 1 and disk % 5):
        return [("disk_size_gb", f"disk_size_gb must be 1 or a multiple of 5 (GB), got {disk!r}")]
    return []


def _allow_list_errors(entries: Any) -> list[tuple[str, str]]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        return [("ip_allow_list", "ip_allow_list must be a list of {cidr_block, description}")]
    for index, entry in enumerate(entries):
        cidr = entry.get("cidr_block") if isinstance(entry, Mapping) else None
        try:
            ipaddress.ip_network(cidr, strict=False)
        except (TypeError, ValueError):
            return [("ip_allow_list", f"ip_allow_list[{index}].cidr_block is not a CIDR block: {cidr!r}")]
    return []


def _ha_errors(known: Mapping[str, Any]) -> list[tuple[str, str]]:
    if known.get("high_availability") is not True:
        return []
    plan, version = known.get("plan"), known.get("version")
    if isinstance(plan, str) and plan in PLANS and not _HA_PLAN.match(plan):
        return [("high_availability", f"high_availability needs a pro_* or accelerated_* plan, not {plan!r}")]
    if isinstance(version, str) and version.isdigit() and int(version) < 13:
        return [("high_availability", f"high_availability needs PostgreSQL 13 or later, not {version}")]
    return []


def replace_reason(field: str, old: Any, new: Any) -> str:
    """The refusal for a change Render can only make by creating a new database."""
    return (f"changing {field} from {old!r} to {new!r} needs a new database: Render cannot change {field} in place, "
            f"so the data would have to move to the new one; set allow_replace=True (and a new name) only after "
            f"planning that move")


def change_errors(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) for each change from the old inputs that Render cannot make in place.

    Downgrades are always refused; replacement-needing changes unless ``allow_replace``.
    """
    errors: list[tuple[str, str]] = []
    changed = [f for f in IMMUTABLE if _changed(f, olds.get(f), news.get(f))]
    if changed and not news.get("allow_replace"):
        errors += [(f, replace_reason(f, olds.get(f), news.get(f))) for f in changed]
    elif changed and not is_unknown(news.get("name")) and news.get("name") == olds.get("name"):
        errors.append(("name", f"a replacement needs a new name: {news.get('name')!r} still belongs to the old "
                               f"database until it is deleted"))
    old_plan, new_plan = olds.get("plan"), news.get("plan")
    if isinstance(old_plan, str) and isinstance(new_plan, str) and plan_downgrade(old_plan, new_plan):
        errors.append(("plan", f"plan downgrade from {old_plan!r} to {new_plan!r}: Render plans only go up; a smaller "
                               f"database means moving the data to a new one, which this resource does not do"))
    old_disk, new_disk = olds.get("disk_size_gb"), news.get("disk_size_gb")
    if isinstance(old_disk, int) and isinstance(new_disk, int) and new_disk < old_disk:
        errors.append(("disk_size_gb", f"disk_size_gb cannot shrink from {old_disk} to {new_disk}: Render disks only "
                                       f"grow; a smaller disk means moving the data to a new database"))
    return errors


def _changed(field: str, old: Any, new: Any) -> bool:
    # Unknown or undeclared values cannot be judged here; diff() judges them against what Render has.
    if is_unknown(new) or old is None or new is None:
        return False
    return not same(field, new, old)
