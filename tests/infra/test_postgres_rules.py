"""Tests for infra/render/_postgres_rules.py: the enums against Render's OpenAPI document, plan order, check rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.render import _postgres_rules as rules
from pulumi.runtime.rpc import UNKNOWN

OPENAPI = Path(__file__).resolve().parents[3] / "shared" / "reference" / "render-openapi.yml"


@pytest.fixture(scope="module")
def openapi():
    if not OPENAPI.exists():
        pytest.skip(f"Render's OpenAPI document is not at {OPENAPI}")
    return yaml.safe_load(OPENAPI.read_text())


def test_plan_region_and_version_constants_match_the_openapi_document(openapi):
    schemas = openapi["components"]["schemas"]
    assert list(rules.PLANS) == schemas["postgres"]["properties"]["plan"]["enum"]
    assert list(rules.REGIONS) == schemas["region"]["enum"]
    assert list(rules.VERSIONS) == schemas["postgresVersion"]["enum"]
    assert rules.DEFAULT_REGION == schemas["region"]["default"]


def test_patchable_fields_are_exactly_those_in_the_patch_schema_we_use(openapi):
    patch = openapi["components"]["schemas"]["postgresPATCHInput"]["properties"]
    assert set(rules.PATCHABLE.values()) <= set(patch)
    post = openapi["components"]["schemas"]["postgresPOSTInput"]["properties"]
    # The replacement-only fields: settable on create, absent from PATCH.
    for api_name in ("region", "version", "databaseName", "databaseUser", "ownerId"):
        assert api_name in post and api_name not in patch


@pytest.mark.parametrize("old,new", [
    ("basic_1gb", "basic_256mb"), ("pro_8gb", "pro_4gb"), ("pro_4gb", "basic_4gb"), ("basic_256mb", "free"),
    ("accelerated_16gb", "pro_16gb"), ("basic_1gb", "standard"), ("pro_4gb", "pro"),
])
def test_plan_downgrades_are_recognised(old, new):
    assert rules.plan_downgrade(old, new)


@pytest.mark.parametrize("old,new", [
    ("free", "basic_256mb"), ("basic_256mb", "basic_1gb"), ("basic_4gb", "pro_4gb"), ("pro_8gb", "accelerated_16gb"),
    ("starter", "basic_256mb"), ("standard", "pro"), ("pro_4gb", "pro_4gb"), ("custom", "free"),
])
def test_plan_upgrades_and_unrankable_moves_are_not_downgrades(old, new):
    assert not rules.plan_downgrade(old, new)


def test_every_plan_but_custom_has_a_rank():
    assert [p for p in rules.PLANS if rules.plan_rank(p) is None] == ["custom"]


@pytest.mark.parametrize("declared,actual,expected", [
    ("tasks", "tasks_x8qa", True), ("tasks", "tasks", True), (None, "whatever_ab12", True),
    ("task", "tasks_x8qa", False), ("tasks", "tasks_prd_x8qa", False), ("tasks_prd", "tasks_x8qa", False),
    ("tasks", "other_x8qa", False),
])
def test_database_name_is_compared_by_prefix_with_renders_suffix(declared, actual, expected):
    assert rules.name_matches(declared, actual) is expected


def _inputs(**over):
    base = {"name": "tasks-prd-db", "owner_id": "tea-x", "plan": "basic_1gb", "version": "15"}
    return rules.normalize({**base, **over})


def test_normalize_fills_defaults_and_spells_values_one_way():
    got = _inputs(version=16, ip_allow_list=[{"cidrBlock": "10.0.0.0/8"}])
    assert got["region"] == "oregon" and got["version"] == "16" and got["allow_replace"] is False
    assert got["ip_allow_list"] == [{"cidr_block": "10.0.0.0/8", "description": ""}]


@pytest.mark.parametrize("field,value,needle", [
    ("plan", "gigantic", "unknown plan 'gigantic'"),
    ("region", "mars", "unknown region 'mars'"),
    ("version", "9", "unknown version '9'"),
    ("disk_size_gb", 7, "1 or a multiple of 5"),
    ("ip_allow_list", [{"cidr_block": "not-a-cidr"}], "ip_allow_list[0].cidr_block"),
    ("adopt_id", "srv-123", "dpg-"),
    ("name", "", "name is required"),
])
def test_field_errors_name_the_field_and_the_value(field, value, needle):
    errors = rules.field_errors(_inputs(**{field: value}))
    assert [f for f, _ in errors] == [field]
    assert needle in errors[0][1]


def test_high_availability_needs_a_pro_plan_and_pg13():
    assert rules.field_errors(_inputs(high_availability=True))[0][0] == "high_availability"
    assert rules.field_errors(_inputs(high_availability=True, plan="pro_4gb", version="12"))
    assert rules.field_errors(_inputs(high_availability=True, plan="pro_4gb")) == []


def test_unknown_values_are_not_judged():
    assert rules.field_errors(_inputs(plan=UNKNOWN, owner_id=UNKNOWN)) == []
    assert rules.change_errors(_inputs(), _inputs(region=UNKNOWN)) == []


@pytest.mark.parametrize("field,new", [("region", "ohio"), ("version", "16"), ("database_name", "other"),
                                       ("database_user", "someone"), ("owner_id", "tea-y")])
def test_replacement_needing_change_is_refused_naming_field_old_new_and_data(field, new):
    old = _inputs(database_name="tasks", database_user="tasks_user")
    errors = rules.change_errors(old, {**old, field: new})
    assert len(errors) == 1 and errors[0][0] == field
    assert f"from {old[field]!r} to {new!r}" in errors[0][1] and "data would have to move" in errors[0][1]


def test_allow_replace_permits_a_replacement_but_only_under_a_new_name():
    old = _inputs()
    assert rules.change_errors(old, {**old, "region": "ohio", "allow_replace": True, "name": "tasks-prd-2"}) == []
    errors = rules.change_errors(old, {**old, "region": "ohio", "allow_replace": True})
    assert [f for f, _ in errors] == ["name"]


def test_downgrades_are_refused_even_with_allow_replace():
    old = _inputs(plan="basic_4gb", disk_size_gb=15)
    errors = rules.change_errors(old, {**old, "plan": "basic_1gb", "disk_size_gb": 10, "allow_replace": True})
    assert [f for f, _ in errors] == ["plan", "disk_size_gb"]
    assert "'basic_4gb' to 'basic_1gb'" in errors[0][1] and "from 15 to 10" in errors[1][1]


def test_upgrades_and_mutable_changes_pass():
    old = _inputs()
    new = {**old, "plan": "pro_4gb", "disk_size_gb": 20, "name": "renamed", "ip_allow_list": []}
    assert rules.change_errors(old, new) == []
