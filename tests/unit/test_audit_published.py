"""The audit knows the names the deployment serves, the meeting app's OIDC issuer and
the office's WOPI hosts (where the documents live)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sovctl.cli import cli

SITE = """
sov_domain: collab.example.eu
sov_provider: ovhcloud
sov_region: gra
sov_country: FR
"""


def _audit(make_inventory, files: dict[str, str], policy: str = "eu-sovereign") -> tuple[int, dict]:
    inv: Path = make_inventory({"group_vars/all/main.yml": SITE, **files}, with_secrets=False)
    result = CliRunner().invoke(cli, ["audit", "-i", str(inv), "--policy", policy,
                                      "--format", "json"])
    return result.exit_code, json.loads(result.stdout)


def _endpoint(report: dict, purpose: str) -> list[dict]:
    return [e for e in report["endpoints"] if e["purpose"] == purpose]


HOSTS = """
all:
  children:
    conferencing:
      hosts:
        rtc1: {ansible_host: 192.0.2.20}
    turn:
      hosts:
        turn1: {ansible_host: 192.0.2.30}
"""


def test_an_endpoint_on_a_name_the_deployment_serves_is_internal(make_inventory) -> None:
    # STUN on LiveKit's own public name (livekit_hostname defaults to rtc.<sov_domain>).
    _, report = _audit(make_inventory, {
        "hosts.yml": HOSTS,
        "group_vars/all/stun.yml": 'sov_stun_servers: ["stun:rtc.collab.example.eu:3478"]\n'})
    (stun,) = _endpoint(report, "stun")
    assert stun["verdict"] == "ok" and stun["country"] == "FR"
    assert not [f for f in report["findings"] if f["subject"] == stun["url"]]
    assert any("host rtc1 of this deployment" in r for r in stun["reasons"]), stun


def test_a_name_no_host_serves_is_still_unknown(make_inventory) -> None:
    code, report = _audit(make_inventory, {
        "hosts.yml": HOSTS,
        "group_vars/all/stun.yml": 'sov_stun_servers: ["stun:stun.elsewhere.example:3478"]\n'})
    assert code == 1
    (stun,) = _endpoint(report, "stun")
    assert stun["verdict"] == "violation"


MEET_HOSTS = """
all:
  children:
    identity:
      hosts:
        id1: {ansible_host: 192.0.2.10}
    meet:
      hosts:
        id1:
"""


def test_meet_uses_the_deployments_own_keycloak_by_default(make_inventory) -> None:
    _, report = _audit(make_inventory, {"hosts.yml": MEET_HOSTS})
    (oidc,) = _endpoint(report, "oidc")
    assert oidc["url"].startswith("https://id.collab.example.eu/")
    assert not [f for f in report["findings"] if f["subject"] == oidc["url"]]
    assert oidc["verdict"] == "ok" and oidc["used_by"] == ["id1"]


def test_meet_federated_with_an_unknown_identity_provider_is_flagged(make_inventory) -> None:
    code, report = _audit(make_inventory, {
        "hosts.yml": MEET_HOSTS,
        "group_vars/meet/main.yml": "meet_oidc_issuer: https://login.idp.example.com/oauth2\n"})
    assert code == 1
    (oidc,) = _endpoint(report, "oidc")
    assert oidc["url"] == "https://login.idp.example.com/oauth2"
    assert oidc["verdict"] == "violation"
    assert any(f["subject"] == oidc["url"] for f in report["findings"])


OFFICE_HOSTS = """
all:
  children:
    office:
      hosts:
        office1: {ansible_host: 192.0.2.40}
"""


def test_wopi_hosts_and_their_aliases_are_audited(make_inventory) -> None:
    wopi = """
collabora_wopi_hosts:
  - url: https://files.collab.example.eu
    aliases: [https://docs.storage.example.com]
sov_endpoint_locations:
  files.collab.example.eu: {country: FR, operator: Example, parent_country: FR}
  docs.storage.example.com: {country: US, operator: Storage Inc., operator_country: US,
                             parent_country: US}
"""
    code, report = _audit(make_inventory, {"hosts.yml": OFFICE_HOSTS,
                                           "group_vars/office/main.yml": wopi})
    assert code == 1
    rows = {e["url"]: e for e in _endpoint(report, "other")}
    assert rows["https://files.collab.example.eu"]["verdict"] == "ok"
    assert rows["https://docs.storage.example.com"]["verdict"] == "violation"
    assert rows["https://docs.storage.example.com"]["country"] == "US"
