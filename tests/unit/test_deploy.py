"""`sovctl deploy`: validation before any host is touched, exit codes, run records."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sovctl.cli import cli
from sovctl.commands import deploy as deploy_mod
from sovctl.runner import HostStats, RunResult


@pytest.fixture
def no_runner(monkeypatch):
    calls = []

    def fake(req, emit=print):
        calls.append(req)
        return RunResult(rc=0, status="successful", hosts={"turn1": HostStats(ok=3)})

    monkeypatch.setattr(deploy_mod, "run_playbook", fake)
    return calls


def test_bad_role_variable_fails_before_any_host_is_touched(make_inventory, no_runner):
    inv = make_inventory({"group_vars/turn/main.yml": "coturn_listening_port: not-a-port\n"})
    result = CliRunner().invoke(cli, ["deploy", "-i", str(inv)])
    assert result.exit_code == 65
    assert no_runner == []
    assert "coturn_listening_port" in result.output
    assert "group_vars/turn/main.yml" in result.output


def test_bad_variable_message_through_the_real_entry_point(make_inventory):
    inv = make_inventory({"host_vars/turn1.yml": "coturn_tls_enabled: perhaps\n"})
    proc = subprocess.run([sys.executable, "-m", "sovctl", "deploy", "-i", str(inv)],
                          capture_output=True, text=True)
    assert proc.returncode == 65
    assert "host_vars/turn1.yml: coturn_tls_enabled (host turn1)" in proc.stderr
    assert "Hint:" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("var,value,fix", [
    ("sov_country", "France", "ISO 3166-1"),
    ("sov_domain", "not a domain", "DNS domain"),
])
def test_bad_site_variable_is_named(make_inventory, no_runner, var, value, fix):
    inv = make_inventory({"host_vars/turn1.yml": f"{var}: {value}\n"})
    result = CliRunner().invoke(cli, ["deploy", "-i", str(inv)])
    assert result.exit_code == 65
    assert var in result.output and fix in result.output
    assert no_runner == []


def test_templated_values_are_left_to_ansible(make_inventory, no_runner, tmp_path, monkeypatch):
    monkeypatch.setenv("SOVCTL_STATE_DIR", str(tmp_path / "state"))
    inv = make_inventory({"group_vars/turn/main.yml":
                          "coturn_listening_port: '{{ 3000 + 478 }}'\n"})
    result = CliRunner().invoke(cli, ["deploy", "-i", str(inv)])
    assert result.exit_code == 0, result.output
    assert len(no_runner) == 1


def test_unknown_service_lists_the_known_ones(make_inventory, no_runner):
    result = CliRunner().invoke(cli, ["deploy", "-i", str(make_inventory()),
                                      "--service", "zoom"])
    assert result.exit_code == 65
    assert ("Hint: one of: coturn, identity, conferencing, office, meet, monitoring, scanner"
            in result.output)


def test_missing_inventory_is_named(no_runner, tmp_path):
    result = CliRunner().invoke(cli, ["deploy", "-i", str(tmp_path / "nope")])
    assert result.exit_code == 65
    assert f"{tmp_path / 'nope'}: inventory not found" in result.output


def test_run_record_has_counts_and_no_variables(make_inventory, no_runner, tmp_path,
                                                monkeypatch):
    monkeypatch.setenv("SOVCTL_STATE_DIR", str(tmp_path / "state"))
    secret = "s3cr3t-value-that-must-not-leak-0123456789"
    inv = make_inventory(
        {"group_vars/all/secret.yml": f"vault_coturn_static_auth_secret: {secret}\n"})
    result = CliRunner().invoke(cli, ["deploy", "-i", str(inv), "--service", "coturn"])
    assert result.exit_code == 0, result.output
    records = list((tmp_path / "state" / "runs").glob("*.json"))
    assert len(records) == 1
    text = records[0].read_text()
    assert secret not in text
    data = json.loads(text)
    assert data["hosts"]["turn1"]["ok"] == 3
    assert [p.rsplit("/", 1)[-1] for p in data["playbooks"]] == [
        "common.yml", "coturn.yml", "firewall.yml"]


def test_fail_on_change_reports_drift(make_inventory, monkeypatch, tmp_path):
    monkeypatch.setenv("SOVCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(deploy_mod, "run_playbook", lambda req, emit=print: RunResult(
        rc=0, status="successful", hosts={"turn1": HostStats(ok=3, changed=1)}))
    inv = make_inventory()
    result = CliRunner().invoke(cli, ["deploy", "-i", str(inv), "--check", "--fail-on-change"])
    assert result.exit_code == 80
    assert "drifted" in result.output


def test_ansible_exit_code_is_passed_through(make_inventory, monkeypatch, tmp_path):
    monkeypatch.setenv("SOVCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(deploy_mod, "run_playbook", lambda req, emit=print: RunResult(
        rc=4, status="failed", hosts={"turn1": HostStats(unreachable=1)}))
    result = CliRunner().invoke(cli, ["deploy", "-i", str(make_inventory())])
    assert result.exit_code == 4
    assert "Unreachable: turn1" in result.output
