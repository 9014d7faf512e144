"""Reports cannot be turned against their reader or the inventory (issue 21)."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sovctl.audit.reports import csv_report, table
from sovctl.audit.safe_template import Evaluator, TemplateFailure, check_template
from sovctl.cli import cli
from tests.unit.hostile_cases import EXAMPLE

REPORT = {
    "policy": "eu-residency",
    "summary": {"hosts": 1, "endpoints": 1, "violations": 0, "warnings": 0},
    "hosts": [{"name": "=HYPERLINK(\"http://x\")", "provider": "+cmd", "region": "-r",
               "country": "@FR", "verdict": "ok", "reasons": ["\tx"]}],
    "endpoints": [{"url": "http://a\nFORGED  row\x1b[31m", "purpose": "apt",
                   "country": "FR", "verdict": "ok", "used_by": ["h"], "reasons": ["\rr"]}],
    "findings": [],
}


def test_csv_cells_cannot_be_formulas() -> None:
    rows = list(csv.reader(io.StringIO(csv_report.render(REPORT), newline="")))
    cells = [c for row in rows[1:] for c in row if c]
    assert all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells), cells
    assert "'=HYPERLINK(\"http://x\")" in cells


def test_table_escapes_control_characters() -> None:
    text = table.render(REPORT)
    assert "\x1b" not in text and "\nFORGED" not in text
    assert "http://a\\x0aFORGED  row\\x1b[31m" in text


@pytest.mark.parametrize("target", ["hosts.yml", "group_vars/all/main.yml", "new.json",
                                    ".vault-pass"])
def test_audit_never_writes_into_the_inventory(tmp_path: Path, target: str) -> None:
    inv = tmp_path / "inv"
    shutil.copytree(EXAMPLE, inv)
    (inv / ".vault-pass").write_text("pw\n")
    before = {p: p.read_bytes() for p in inv.rglob("*") if p.is_file()}
    result = CliRunner().invoke(cli, ["audit", "-i", str(inv), "-o", str(inv / target)])
    assert result.exit_code == 2, result.output
    assert "refusing to write" in result.output
    assert {p: p.read_bytes() for p in inv.rglob("*") if p.is_file()} == before


def test_audit_never_writes_over_its_policy(tmp_path: Path) -> None:
    policy = tmp_path / "mine.yml"
    shutil.copy(EXAMPLE.parents[1] / "policies" / "eu-residency.yml", policy)
    result = CliRunner().invoke(cli, ["audit", "-i", str(EXAMPLE), "--policy", str(policy),
                                      "-o", str(policy)])
    assert result.exit_code == 2 and "refusing to write" in result.output


def test_the_roles_defaults_are_within_the_subset_and_render_like_ansible() -> None:
    default = ("{{ (sov_artifact_mirror | regex_replace('/+$', '')) ~ '/apt/x'"
               " if sov_artifact_mirror | default('') | length > 0 else 'https://up/x' }}")
    assert check_template(default) is None
    ev = Evaluator({"sov_artifact_mirror": "https://m.example.eu//"})
    assert ev.render(default) == "https://m.example.eu/apt/x"
    assert Evaluator({}).render(default) == "https://up/x"
    assert Evaluator({"a": ["x", "y"]}).render("{{ a }}") == ["x", "y"]
    assert Evaluator({"h": "https://id.example.eu/p"}).render(
        "{{ h | urlsplit('hostname') }}") == "id.example.eu"


@pytest.mark.parametrize("text", [
    "{{ lookup('pipe', 'id') }}", "{{ query('file', '/etc/passwd') }}", "{{ range(10) }}",
    "{{ ''.__class__ }}", "{% include 'x' %}", "{{ 'x' | to_json }}", "{{ 'a'.format(1) }}",
])
def test_outside_the_subset(text: str) -> None:
    assert check_template(text) is not None


@pytest.mark.parametrize("text", ["{{ 'x' * 100000000 }}", "{{ '%s' % 1 }}",
                                  "{{ 'aaaa' | regex_replace('(a+)+$', '') }}"])
def test_bounded_evaluation(text: str) -> None:
    with pytest.raises(TemplateFailure):
        Evaluator({}).render(text)


def test_a_slow_template_is_stopped(monkeypatch) -> None:
    from sovctl.audit import safe_template

    monkeypatch.setattr(safe_template, "TIME_BUDGET", 0.3)
    loops = ("{% for a in x %}{% for b in x %}{% for c in x %}{% endfor %}{% endfor %}"
             "{% endfor %}done")
    with pytest.raises(TemplateFailure, match="took more than"):
        Evaluator({"x": list(range(1000))}).render(loops)


@pytest.mark.parametrize("text", [
    "{% set y = 'a' %}" + "{% set y = y ~ y %}" * 40 + "{{ y }}",
    "{{ ([x] * 16000) | join }}", "{{ x | replace('a', x) }}",
    "{{ l | map('replace', 'a', x) | list }}",
    "{% for a in l %}{% for b in l %}{% for c in l %}{{ x }}{% endfor %}{% endfor %}{% endfor %}",
])
def test_amplification_is_bounded(text: str) -> None:
    with pytest.raises(TemplateFailure):
        Evaluator({"x": "a" * 1000, "l": ["a"] * 100}).render(text)
