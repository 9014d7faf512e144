"""docs/architecture.md keeps its contract sections true: the exit-code table names every
EXIT_ constant of sovctl/errors.py with its number, and the audit's JSON section lists
exactly the keys a real report has (top level, summary, hosts, endpoints, findings, meta)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sovctl import errors
from sovctl.audit import live
from sovctl.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
CASE = ROOT / "tests" / "data" / "audit" / "us-smtp" / "inventory"
ROW = re.compile(r"^\|(.*)\|\s*$", re.M)
KEY_CELL = re.compile(r"`([A-Za-z_][\w.\[\]]*)`")
LIVE_ONLY = "`--live` only"


def section(title: str) -> str:
    """The text of the ``## title`` section, up to the next ``## `` heading."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in m[1].split("|")] for m in ROW.finditer(text)]


def exit_table() -> list[tuple[str, str]]:
    """(code cell, name cell) of each row of the exit-code table."""
    return [(r[0], r[1]) for r in rows(section("Exit codes")) if len(r) >= 4]


def constants() -> dict[str, int]:
    return {name: value for name, value in vars(errors).items() if name.startswith("EXIT_")}


def test_every_exit_constant_is_in_the_table_with_its_number() -> None:
    table = exit_table()
    assert constants(), "no EXIT_ constant found in sovctl/errors.py"
    for name, value in constants().items():
        codes = [code for code, cell in table if f"`{name}`" in cell]
        assert codes, f"{name} is missing from the exit-code table of {DOC.name}"
        assert all(str(value) in re.split(r"[,\s]+", code) for code in codes), (
            f"{name} is {value} in errors.py but {codes} in {DOC.name}")


def test_every_exit_constant_in_the_table_exists_with_that_number() -> None:
    known = constants()
    for code, cell in exit_table():
        for name in re.findall(r"`(EXIT_\w+)`", cell):
            assert name in known, f"{DOC.name} names {name}, which errors.py does not define"
            assert code == str(known[name]), f"{name}: {code} in the doc, {known[name]} in code"


def _audit_json(*extra: str) -> dict:
    """A real report, produced as tests/unit/test_audit_cli.py does: through the CLI."""
    result = CliRunner().invoke(cli, ["audit", "-i", str(CASE), "--policy", "eu-sovereign",
                                      "--format", "json", *extra])
    assert result.exit_code == 1, result.output  # the case has violations
    data = json.loads(result.stdout)
    assert data["hosts"] and data["endpoints"] and data["findings"]
    return data


@pytest.fixture(scope="module")
def report() -> dict:
    return _audit_json()


@pytest.fixture(scope="module")
def live_report() -> dict:
    """``--live`` with the collection replaced (no host is contacted): one host unreachable."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(live, "collect", lambda _inventory, hosts: [
            live.Observed(h, "unreachable") for h in hosts])
        data = _audit_json("--live")
    assert data["meta"]["mode"] == "live"
    return data


def documented() -> dict[str, bool]:
    """Every key path of the JSON section's tables -> whether it is `--live` only."""
    found: dict[str, bool] = {}
    for r in rows(section("Audit JSON report")):
        m = KEY_CELL.fullmatch(r[0])
        if m:
            found[m[1]] = any(LIVE_ONLY in cell for cell in r[1:])
    return found


def children(prefix: str) -> dict[str, bool]:
    docs = documented()
    return {path[len(prefix):]: live_only for path, live_only in docs.items()
            if path.startswith(prefix) and "." not in path[len(prefix):]}


def test_every_top_level_key_is_documented_and_exists(report: dict) -> None:
    top = {path for path in documented() if "." not in path and "[" not in path}
    assert top == set(report), (
        f"undocumented: {sorted(set(report) - top)}; "
        f"documented but absent: {sorted(top - set(report))}")


@pytest.mark.parametrize("prefix, pick", [
    ("summary.", lambda r: [r["summary"]]),
    ("hosts[].", lambda r: r["hosts"]),
    ("endpoints[].", lambda r: r["endpoints"]),
    ("findings[].", lambda r: r["findings"]),
])
def test_every_entry_key_is_documented_and_exists(report: dict, prefix: str, pick) -> None:
    keys = children(prefix)
    for entry in pick(report):
        assert set(entry) == set(keys), (
            f"{prefix}: report has {sorted(entry)}, {DOC.name} lists {sorted(keys)}")


def test_every_meta_key_is_documented_and_exists(report: dict, live_report: dict) -> None:
    keys = children("meta.")
    static = {k for k, live_only in keys.items() if not live_only}
    assert set(report["meta"]) == static, (
        f"static report: {sorted(report['meta'])}; {DOC.name} (without --live only): "
        f"{sorted(static)}")
    assert set(live_report["meta"]) == set(keys), (
        f"--live report: {sorted(live_report['meta'])}; {DOC.name}: {sorted(keys)}")


def test_the_example_has_the_keys_of_a_real_report(report: dict) -> None:
    example = json.loads(re.search(r"```json\n(.*?)```", section("Audit JSON report"),
                                   re.S)[1])
    assert set(example) == set(report)
    for key in ("hosts", "endpoints", "findings"):
        assert all(set(e) == set(report[key][0]) for e in example[key]), key
    assert set(example["summary"]) == set(report["summary"])
    assert set(example["meta"]) == set(report["meta"])
