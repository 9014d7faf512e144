"""``sovctl audit`` through the CLI: the JSON contract, exit codes 0/1/2, every format."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sovctl.cli import cli, main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "audit"
VERDICTS = {"ok", "warning", "violation"}
PURPOSES = {"stun", "turn", "oidc", "ntp", "dns", "smtp", "apt", "artifact", "acme", "backup",
            "webhook", "other"}


def inv(case: str) -> str:
    return str(CORPUS / case / "inventory")


def _run(*args: str):
    return CliRunner().invoke(cli, ["audit", *args])


def _json(case: str, policy: str) -> dict:
    result = _run("-i", inv(case), "--policy", policy, "--format", "json")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.stdout)


def test_json_follows_the_contract_exactly() -> None:
    report = _json("us-smtp", "eu-sovereign")
    assert set(report) == {"policy", "summary", "hosts", "endpoints", "findings", "meta"}
    assert report["policy"] == "eu-sovereign"
    assert set(report["summary"]) == {"hosts", "endpoints", "violations", "warnings"}
    assert all(isinstance(v, int) for v in report["summary"].values())
    for h in report["hosts"]:
        assert set(h) == {"name", "provider", "country", "region", "verdict", "reasons"}
        assert h["verdict"] in VERDICTS
        assert all(isinstance(r, str) for r in h["reasons"])
    for e in report["endpoints"]:
        assert set(e) == {"url", "purpose", "used_by", "country", "verdict", "reasons"}
        assert e["purpose"] in PURPOSES and e["verdict"] in VERDICTS
        assert e["country"] is None or re.fullmatch(r"[A-Z]{2}", e["country"])
    for f in report["findings"]:
        assert set(f) == {"severity", "rule", "subject", "detail"}
        assert f["severity"] in {"violation", "warning", "info"}
    assert report["summary"]["violations"] == sum(
        f["severity"] == "violation" for f in report["findings"])
    assert report["summary"]["hosts"] == len(report["hosts"])
    assert report["summary"]["endpoints"] == len(report["endpoints"])


def test_meta_records_the_evidence() -> None:
    meta = _json("compliant", "eu-residency")["meta"]
    assert meta["tool"]["version"] == __import__("sovctl").__version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["generated_at"])
    assert re.fullmatch(r"[0-9a-f]{64}", meta["inventory"]["sha256"])
    assert meta["inventory"]["files"] == 2
    assert meta["policy"]["name"] == "eu-residency"
    assert re.fullmatch(r"[0-9a-f]{64}", meta["policy"]["sha256"])


def test_inventory_hash_changes_with_the_inventory(tmp_path: Path) -> None:
    case = tmp_path / "inv"
    shutil.copytree(CORPUS / "compliant" / "inventory", case)
    before = _json_path(case)["meta"]["inventory"]["sha256"]
    (case / "group_vars" / "all.yml").write_text(
        (case / "group_vars" / "all.yml").read_text() + "sov_domain: example.eu\n")
    assert _json_path(case)["meta"]["inventory"]["sha256"] != before


def _json_path(inv: Path, *extra: str) -> dict:
    return json.loads(_run("-i", str(inv), "--format", "json", *extra).stdout)


@pytest.mark.parametrize(("case", "policy", "code"), [
    ("compliant", "eu-sovereign", 0),
    ("aws-paris", "eu-residency", 0),
    ("aws-paris", "eu-sovereign", 1),
    ("swiss-host", "eu-residency", 1),
])
def test_exit_codes_0_and_1(case: str, policy: str, code: int) -> None:
    result = _run("-i", inv(case), "--policy", policy)
    assert result.exit_code == code, result.output


@pytest.mark.parametrize(("args", "file_part", "field"), [
    (["-i", inv("unknown-provider")], "group_vars/turn.yml", "hosts.turn1.sov_provider"),
    (["-i", inv("unknown-region")], "unknown-region/inventory/hosts.yml", "hosts.web1.sov_region"),
    (["-i", inv("compliant"), "--policy", "no-such-policy"], "policies", "--policy"),
    (["-i", inv("no-such-inventory")], "no-such-inventory", None),
])
def test_bad_input_exits_2_naming_file_and_field(args, file_part, field, capsys) -> None:
    result = _run(*args)
    assert result.exit_code == 2
    with pytest.raises(SystemExit) as exc:
        main(["audit", *args])
    assert exc.value.code == 2
    for err in (result.stderr, capsys.readouterr().err):
        assert err.startswith("Error: ") and file_part in err
        if field:
            assert field in err


def test_a_policy_file_with_a_bare_no_is_rejected(tmp_path: Path) -> None:
    policy = tmp_path / "mine.yml"
    policy.write_text("---\nname: mine\ncountries: [FR, NO]\n")
    result = _run("-i", inv("compliant"), "--policy", str(policy))
    assert result.exit_code == 2
    assert f"Error: {policy}: countries: must be an ISO 3166-1 alpha-2 code" in result.stderr
    assert 'Hint: quote "NO"' in result.stderr


def test_a_user_policy_file_that_allows_switzerland(tmp_path: Path) -> None:
    policy = tmp_path / "eu-ch.yml"
    policy.write_text("---\nname: eu-ch\ncountries: [FR, DE, CH]\nunknown_location: warning\n")
    result = _run("-i", inv("swiss-host"), "--policy", str(policy), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["policy"] == "eu-ch"


def test_the_inventory_sov_policy_is_the_default(tmp_path: Path) -> None:
    assert _json_path(CORPUS / "sandbox" / "inventory")["policy"] == "eu-sovereign"
    assert _json_path(CORPUS / "aws-paris" / "inventory")["policy"] == "eu-residency"


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "sarif", "html"])
def test_each_format_renders(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"report.{fmt}"
    result = _run("-i", inv("us-smtp"), "--policy", "eu-sovereign",
                  "--format", fmt, "-o", str(out))
    assert result.exit_code == 1
    text = out.read_text()
    assert "smtp.sendgrid.net:587" in text
    if fmt == "sarif":
        sarif = json.loads(text)
        assert sarif["version"] == "2.1.0"
        results = sarif["runs"][0]["results"]
        assert {r["level"] for r in results} <= {"error", "warning", "note"}
        assert any(r["ruleId"] == "endpoint-country-not-allowed" and r["level"] == "error"
                   and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                   .endswith("us-smtp/inventory/group_vars/all.yml") for r in results)
    if fmt == "csv":
        assert text.splitlines()[0] == ("kind,name,purpose,provider,region,country,verdict,"
                                        "used_by,reasons")
    if fmt == "table":
        assert "NOT COMPLIANT" in text


def _html(case: str = "google-stun", policy: str = "eu-sovereign") -> str:
    return _run("-i", inv(case), "--policy", policy, "--format", "html").stdout


def test_html_is_standalone_with_a_diagram() -> None:
    html = _html()
    assert "<svg" in html and "</svg>" in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, re.I)
    assert not re.search(r"<(?:script|link|img|iframe)\b", html, re.I)
    assert "@import" not in html and "url(http" not in html
    assert 'stroke="#c62828"' in html  # arrows to the Google STUN violations


def test_html_escapes_inventory_text(tmp_path: Path) -> None:
    case = tmp_path / "inv"
    shutil.copytree(CORPUS / "compliant" / "inventory", case)
    gv = case / "group_vars" / "all.yml"
    gv.write_text(gv.read_text().replace("smtp.example.eu:587", "smtp.example.eu:587<script>"))
    html = _run("-i", str(case), "--format", "html").stdout
    assert "<script>" not in html and "&lt;script&gt;" in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless check needs chromium (apt-get install "
                                             "chromium); the HTML itself is tested above")
def test_html_renders_headless_offline(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(_html())
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--proxy-server=127.0.0.1:9", f"--screenshot={shot}",
                    "--window-size=1200,1600", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_the_audit_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    """The command pauses the cyclic collector while it runs (a large acyclic graph),
    and turns it back on, after a report and after bad input alike."""
    import gc

    assert gc.isenabled()
    _run("-i", inv("compliant"), "--format", "json")
    assert gc.isenabled()
    _run("-i", str(tmp_path / "missing"), "--format", "json")
    assert gc.isenabled()
