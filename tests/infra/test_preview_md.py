"""Tests for tools/preview_md.py on preview documents shaped like `pulumi preview --json` (tests/fixtures/preview)."""

from __future__ import annotations

import copy
import io
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tools.preview_md import load, main, render, rows

FIXTURES = ROOT / "tests" / "fixtures" / "preview"
# Every secret the fixtures hold, as plaintext, inside a secret object, or under a sensitive key.
SECRETS = ("Pl41nt3xtPassw0rd", "0ldStgS3cret", "R3pl4ceSecret", "N3wR3pl4ceSecret", "hunter2-Secret",
           "Zz9pY2tsZWQtcHJvdmlkZXItYmxvYg", "dpg-prd-a/tasks_x1", "postgresql://")


def doc(name: str) -> dict:
    return load((FIXTURES / name).read_text())


def table(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| Resource")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_rows_group_the_replacement_steps_and_hide_unchanged_resources():
    found = [(r.name, r.type, r.op, r.fields, r.replace_reasons) for r in rows(doc("cutover_prd.json"))]
    assert found == [
        ("db", "pulumi-python:dynamic/render:Postgres", "create", [], []),
        ("migrate-deploy", "command:local:Command", "create", [], []),
        ("DATABASE_URL", "pulumi-python:dynamic/render:ServiceEnvVar", "update", ["`value`"], []),
        ("deploy", "pulumi-python:dynamic/render:ServiceDeploy", "replace", ["`triggers`"], ["triggers"]),
    ]
    assert [r.name for r in rows(doc("cutover_prd.json"), show_same=True)][:2] == ["tasks-cutover-prd", "stg-db"]


def test_the_markdown_table_and_summary_of_a_cutover():
    markdown = render(doc("cutover_prd.json"), stack="prd")
    assert markdown.startswith("### Pulumi preview: `prd`\n")
    assert table(markdown) == [
        ["`db`", "`render:Postgres`", "create", "", ""],
        ["`migrate-deploy`", "`command:local:Command`", "create", "", ""],
        ["`DATABASE_URL`", "`render:ServiceEnvVar`", "update", "`value`", ""],
        ["`deploy`", "`render:ServiceDeploy`", "**replace**", "`triggers`", "`triggers`"],
    ]
    assert "**Plan:** 2 to create, 1 to update, 1 to replace, 2 unchanged\n" in markdown
    assert "[!CAUTION]" not in markdown  # creating a database loses nothing
    assert "Errors and warnings" not in markdown  # info diagnostics (command output) are left out


def test_a_database_replace_or_delete_gets_a_loud_warning_at_the_top():
    markdown = render(doc("database_loss.json"), stack="prd")
    heading, warning = markdown.index("### Pulumi preview"), markdown.index("> [!CAUTION]")
    assert heading < warning < markdown.index("| Resource")
    assert "DATABASE DELETE OR REPLACE" in markdown
    assert "> - `prd-db`: **replace** because of `region`" in markdown
    assert "> - `old-db`: **delete**" in markdown


def test_without_diff_reasons_fields_come_from_comparing_inputs_and_only_harmless_values_show():
    by_name = {r[0]: r for r in table(render(doc("database_loss.json")))}
    assert by_name["`prd-db`"][3] == ("`allow_replace`: `false` → `true`, `external_connection_string`, "
                                      "`plan`: `basic_1gb` → `basic_4gb`, `region`: `oregon` → `ohio`")
    assert by_name["`maintenance`"][3] == "`enabled`: `false` → `true`"  # from detailedDiff's keys


def test_a_protected_delete_the_summary_omits_is_still_reported_with_the_engines_error():
    markdown = render(doc("database_loss.json"))
    assert "the steps also hold 1 delete that the summary leaves out" in markdown
    assert "- **error** `old-db`: Preview failed: resource" in markdown and "cannot be deleted" in markdown


@pytest.mark.parametrize("name", ["cutover_prd.json", "database_loss.json", "no_changes.json"])
def test_no_secret_value_ever_appears(name):
    text = (FIXTURES / name).read_text()
    markdown = render(load(text), stack="prd", details=text, show_same=True)
    for secret in SECRETS:
        assert secret not in markdown, secret


def test_whitelisted_names_still_hide_secrets_urls_and_long_values():
    base = doc("database_loss.json")
    for value in ("[secret]", "postgres://u:p@h/db", "x" * 41,
                  {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "plaintext": "\"free\""}):
        changed = copy.deepcopy(base)
        changed["steps"][1]["newState"]["inputs"]["plan"] = value
        [prd] = [r for r in rows(changed) if r.name == "prd-db"]
        assert "`plan`" in prd.fields, value  # named, without its values


def test_a_secret_value_under_any_name_is_masked_in_diagnostics_too():
    changed = doc("no_changes.json")
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "plaintext": "\"s3cr3t-v4lue\""}
    changed["steps"][1]["newState"]["inputs"]["plan"] = secret
    changed["diagnostics"] = [{"message": "failed while plan was s3cr3t-v4lue", "severity": "error"}]
    markdown = render(changed)
    assert "s3cr3t-v4lue" not in markdown and "failed while plan was ***" in markdown


def test_no_changes_says_so():
    markdown = render(doc("no_changes.json"), stack="stg")
    assert "No resource changes." in markdown and "**Plan:** 2 unchanged" in markdown and "| Resource" not in markdown


def test_details_are_folded_in_a_fence_longer_than_any_backticks_inside():
    diff = "  ~ render:Postgres db\n      ~ plan: \"free\" => \"basic_1gb\"\n```\nDATABASE_URL=postgresql://u:pw@h/d\n"
    markdown = render(doc("no_changes.json"), details=diff)
    assert "<details><summary>pulumi preview --diff</summary>" in markdown
    assert "\n````\n" in markdown and "postgresql://u:***@h/d" in markdown and ":pw@" not in markdown


def test_cli_reads_a_file_or_stdin_and_reports_bad_input_in_one_line(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert main([str(FIXTURES / "cutover_prd.json"), "--stack", "prd"], stdout=out, stderr=err) == 0
    assert out.getvalue() == render(doc("cutover_prd.json"), stack="prd")
    for text, message in (("", "the input is empty"), ("{oops", "the input is not JSON"),
                          ("[1, 2]", "the input is not a `pulumi preview --json` document")):
        err = io.StringIO()
        assert main([], stdin=io.StringIO(text), stdout=io.StringIO(), stderr=err) == 1
        assert err.getvalue().startswith(f"error: {message}") and err.getvalue().count("\n") == 1
    err = io.StringIO()
    assert main([str(tmp_path / "missing.json")], stdout=io.StringIO(), stderr=err) == 1
    assert "cannot read" in err.getvalue()


def test_runs_as_a_module_from_stdin():
    done = subprocess.run([sys.executable, "-m", "tools.preview_md", "--stack", "prd"], cwd=ROOT, timeout=60,
                          input=(FIXTURES / "database_loss.json").read_text(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "[!CAUTION]" in done.stdout and SECRETS[2] not in done.stdout
