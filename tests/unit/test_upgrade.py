"""`sovctl upgrade`: the request is checked before any host is touched."""

import pytest
import yaml
from click.testing import CliRunner

from sovctl.cli import cli
from sovctl.commands import upgrade as upgrade_mod
from sovctl.mirror import load_catalogue
from sovctl.runner import HostStats, RunResult
from tests.helpers import ROOT

HOSTS = """all:
  children:
    identity:
      hosts:
        id1: {ansible_host: 127.0.0.1, ansible_port: 1}
        id2: {ansible_host: 127.0.0.2, ansible_port: 1}
    identity_db:
      hosts:
        db1: {ansible_host: 127.0.0.3, ansible_port: 1}
"""


class Calls(list):
    """The run requests made, and the result the fake runner gives back."""

    outcome: dict


@pytest.fixture
def runs(monkeypatch, tmp_path):
    monkeypatch.setenv("SOVCTL_STATE_DIR", str(tmp_path / "state"))
    calls = Calls()
    outcome = {"result": RunResult(rc=0, status="successful",
                                   hosts={"id1": HostStats(ok=3), "id2": HostStats(ok=3)})}

    def fake(req, emit=print):
        calls.append(req)
        return outcome["result"]

    monkeypatch.setattr(upgrade_mod, "run_playbook", fake)
    calls.outcome = outcome
    return calls


@pytest.fixture
def inv(make_inventory):
    return make_inventory({"hosts.yml": HOSTS})


def invoke(*args):
    return CliRunner().invoke(cli, ["upgrade", *args])


def test_a_version_not_in_the_catalogue_names_the_fix_and_touches_no_host(inv, runs):
    result = invoke("-i", str(inv), "--service", "keycloak", "--to", "99.0.0")
    assert result.exit_code == 65, result.output
    assert "catalogue.yml: --to: keycloak 99.0.0 is not in the artifact catalogue" in result.output
    for version in load_catalogue().versions("keycloak"):
        assert version in result.output
    assert "sovctl mirror sync DIR --only keycloak@99.0.0" in result.output
    assert runs == []


def test_to_needs_one_service(inv, runs):
    result = invoke("-i", str(inv), "--to", "26.7.3")
    assert result.exit_code == 65
    assert "--service keycloak or --service livekit" in result.output and runs == []


def test_to_and_restart_only_are_exclusive(inv, runs):
    result = invoke("-i", str(inv), "--service", "keycloak", "--to", "26.7.3", "--restart-only")
    assert result.exit_code == 65 and "exclusive" in result.output and runs == []


def test_unknown_service_is_refused_with_the_upgradable_ones(inv, runs):
    result = invoke("-i", str(inv), "--service", "coturn")
    assert result.exit_code == 65 and runs == []
    assert "unknown service 'coturn'" in result.output
    assert "one of: all, keycloak, livekit" in result.output


def test_a_too_short_health_timeout_is_refused(inv, runs):
    result = invoke("-i", str(inv), "--service", "keycloak", "--health-timeout", "3")
    assert result.exit_code == 65 and "--health-timeout" in result.output and runs == []


def test_a_service_without_hosts_is_an_input_error(inv, runs):
    result = invoke("-i", str(inv), "--service", "livekit")
    assert result.exit_code == 65
    assert "'conferencing'" in result.output and "nothing to upgrade" in result.output
    assert runs == []


def test_an_invalid_inventory_is_refused_before_any_host(make_inventory, runs):
    bad = make_inventory({"hosts.yml": HOSTS,
                          "group_vars/all/main.yml": "sov_domain: collab.example.eu\n"
                          "sov_provider: nosuchcloud\nsov_region: gra\nsov_country: FR\n"})
    result = invoke("-i", str(bad), "--service", "keycloak", "--to", "26.7.3")
    assert result.exit_code == 65 and "nosuchcloud" in result.output and runs == []


def test_a_valid_request_runs_the_upgrade_playbook_with_its_variables(inv, runs):
    result = invoke("-i", str(inv), "--service", "keycloak", "--to", "26.7.3",
                    "--limit", "id2", "--health-timeout", "120")
    assert result.exit_code == 0, result.output
    (req,) = runs
    assert req.playbooks == [ROOT / "playbooks" / "upgrade.yml"]
    assert req.limit == "id2" and not req.check
    assert req.extravars == {"upgrade_service": "keycloak", "upgrade_keycloak_version": "26.7.3",
                             "upgrade_health_timeout": 120, "upgrade_restart_only": False}


def test_restart_only_and_check_mode_are_passed_on(inv, runs):
    result = invoke("-i", str(inv), "--restart-only", "--check")
    assert result.exit_code == 0, result.output
    (req,) = runs
    assert req.check
    assert req.extravars["upgrade_restart_only"] is True
    assert req.extravars["upgrade_service"] == "all"


def test_a_rolled_back_node_gives_ansibles_exit_code_and_names_the_host(inv, runs):
    msg = ("id1: Keycloak 26.7.3 failed; rolled back to 26.7.2, healthy. The rollout stopped: "
           "the nodes after this one were not touched.")
    runs.outcome["result"] = RunResult(
        rc=2, status="failed", hosts={"id1": HostStats(ok=9, failed=1, rescued=1)},
        failures=[{"host": "id1", "task": "keycloak : Wait for Keycloak", "state": "FAILED",
                   "message": "timed out"},
                  {"host": "id1", "task": "Stop the rollout (this node was rolled back)",
                   "state": "FAILED", "message": msg}])
    result = invoke("-i", str(inv), "--service", "keycloak", "--to", "26.7.3")
    assert result.exit_code == 2
    assert f"Upgrade stopped: {msg}" in result.output
    assert "Every node is at the target" not in result.output


def test_upgrade_is_not_a_deployable_service():
    from sovctl.services import registry

    assert "upgrade" not in registry()


def test_the_playbook_rolls_out_one_node_at_a_time_and_stops_at_the_first_failure():
    plays = yaml.safe_load((ROOT / "playbooks" / "upgrade.yml").read_text())
    rolling = [p for p in plays if "serial" in p]
    assert len(rolling) == 2
    for play in rolling:
        assert play["serial"] == 1 and play["max_fail_percentage"] == 0
        block = next(t for t in play["tasks"] if "block" in t)
        assert block["rescue"], f"{play['name']}: no rollback"
