"""inventories/example, the multi-site EU deployment users copy: valid, and compliant as shipped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from sovctl.cli import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "example"


def _audit(inventory: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["audit", "-i", str(inventory), "--format", "json", *args])
    return result.exit_code, json.loads(result.stdout)


def test_example_is_compliant_with_its_own_policy_secnumcloud() -> None:
    code, report = _audit(EXAMPLE)
    assert report["policy"] == "secnumcloud"
    assert code == 0, report["findings"]
    assert report["summary"] == {"hosts": 7, "endpoints": 16, "violations": 0, "warnings": 0}
    assert {h["country"] for h in report["hosts"]} == {"FR"}
    # Every external purpose the stack has is declared, none left to software defaults.
    assert {e["purpose"] for e in report["endpoints"]} == {
        "apt", "artifact", "backup", "dns", "ntp", "oidc", "other", "smtp", "stun", "turn"}
    # LiveKit hands its clients the deployment's own two relays (the role's default, from
    # the `turn` group): the addresses of both relays of this deployment.
    turn = sorted(e["url"] for e in report["endpoints"] if e["purpose"] == "turn")
    assert turn == ["192.0.2.30", "198.51.100.30"], turn  # their coturn_external_ip
    # The meeting app's issuer is the deployment's own Keycloak, on the identity host.
    (oidc,) = [e for e in report["endpoints"] if e["purpose"] == "oidc"]
    assert oidc["url"].startswith("https://id.collab.example.org/")
    assert any("id1.par.collab.example.org of this deployment" in r for r in oidc["reasons"])
    # Backups go to a host of the deployment, in the other region.
    (backup,) = [e for e in report["endpoints"] if e["purpose"] == "backup"]
    assert any("backup1.gouv.collab.example.org of this deployment" in r
               for r in backup["reasons"])


def test_copy_with_generated_secrets_passes_check(tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    shutil.copytree(EXAMPLE, prod)

    def sovctl(*args: str) -> subprocess.CompletedProcess:
        # One process per command, as a user runs them.
        return subprocess.run([sys.executable, "-m", "sovctl", *args], capture_output=True,
                              text=True, timeout=120)

    before = sovctl("check", "-i", str(prod), "--offline")
    assert before.returncode == 65 and "sovctl secrets ensure" in before.stdout, before.stdout
    ensured = sovctl("secrets", "ensure", "-i", str(prod))
    assert ensured.returncode == 0, ensured.stdout + ensured.stderr
    checked = sovctl("check", "-i", str(prod), "--offline")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "7 host(s), every variable valid" in checked.stdout


def test_moving_a_relay_to_an_unqualified_offer_fails_secnumcloud_only(tmp_path: Path) -> None:
    """What an auditor should see when one host leaves the qualified offer."""
    prod = tmp_path / "prod"
    shutil.copytree(EXAMPLE, prod)
    hosts = yaml.safe_load((prod / "hosts.yml").read_text())
    turn2 = hosts["all"]["children"]["turn"]["hosts"]["turn2.gouv.collab.example.org"]
    turn2.update({"sov_provider": "ovhcloud", "sov_region": "sbg"})
    turn2.pop("sov_offer", None)
    (prod / "hosts.yml").write_text(yaml.safe_dump(hosts))
    host_vars = prod / "host_vars"
    host_vars.mkdir()
    # The site-wide sov_offer (Outscale's) does not name an OVHcloud offer.
    (host_vars / "turn2.gouv.collab.example.org.yml").write_text("sov_offer: ''\n")
    code, report = _audit(prod)
    assert code == 1
    bad = [h for h in report["hosts"] if h["verdict"] == "violation"]
    assert [h["name"] for h in bad] == ["turn2.gouv.collab.example.org"]
    code, report = _audit(prod, "--policy", "eu-sovereign")
    assert code == 0, report["findings"]
