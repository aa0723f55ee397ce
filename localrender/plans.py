"""Postgres plans, versions and regions as Render's spec enumerates them, and the plan's up-only rule."""

from __future__ import annotations

from .replies import ApiError

REGIONS = ("frankfurt", "oregon", "ohio", "singapore", "virginia")
VERSIONS = ("11", "12", "13", "14", "15", "16", "17")  # the spec's postgresVersion enum
LEGACY = {"starter": 256, "standard": 1024, "pro": 4096, "pro_plus": 8192}
ENTERPRISE_PREFIXES = ("pro_", "accelerated_")
_FAMILY_TIER = {"free": 0, "basic": 1, "pro": 2, "accelerated": 3}


def _current_generation() -> dict[str, int]:
    sizes = {"free": 256, "basic_256mb": 256, "basic_1gb": 1024, "basic_4gb": 4096}
    for gb in (4, 8, 16, 32, 64, 128, 192, 256, 384, 512):
        sizes[f"pro_{gb}gb"] = gb * 1024
    for gb in (16, 32, 64, 128, 256, 384, 512, 768, 1024):
        sizes[f"accelerated_{gb}gb"] = gb * 1024
    return sizes


CURRENT = _current_generation()
PLANS = (*CURRENT, *LEGACY, "custom")


def _rank(plan: str) -> tuple[int, int]:
    """(memory in MB, family tier): moving up either one is an upgrade."""
    if plan in LEGACY:
        return LEGACY[plan], 1
    family = plan.split("_")[0]
    return CURRENT[plan], _FAMILY_TIER.get(family, 1)


def check_upgrade(old: str, new: str) -> None:
    """Raise a 400 unless ``old -> new`` keeps or raises the plan (Render refuses downgrades).

    A legacy plan may move to the current generation, never back; ``custom`` plans are managed by Render.
    """
    if new == old:
        return
    if new not in PLANS:
        raise ApiError(400, f"invalid plan: {new}")
    if "custom" in (old, new):
        raise ApiError(400, f"plan {old} cannot be changed to {new} through the API")
    if new in LEGACY and old not in LEGACY:
        raise ApiError(400, f"plan {old} cannot move back to the legacy plan {new}")
    if _rank(new) < _rank(old):
        raise ApiError(400, f"plan can only be upgraded: {old} -> {new} is a downgrade")
