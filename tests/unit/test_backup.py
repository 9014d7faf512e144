"""`sovctl backup` / `sovctl restore`: input checked before any host is touched."""

import pytest
from click.testing import CliRunner

from sovctl.cli import cli
from sovctl.commands import backup as backup_mod
from sovctl.runner import HostStats, RunResult
from tests.helpers import ROOT, assert_role_interface_documented

ID_HOST = "            id1: {ansible_host: 127.0.0.1, ansible_port: 1}\n"


def hosts_yml(extra: str = "", identity: str = ID_HOST) -> str:
    return ("all:\n  children:\n    identity:\n      hosts:\n"
            + identity.replace("            ", "        ") + extra)


TARGET = "sov_backup_target: sftp:sovbackup@backup.example.eu:/restic\n"


@pytest.fixture
def runs(monkeypatch, tmp_path):
    monkeypatch.setenv("SOVCTL_STATE_DIR", str(tmp_path / "state"))
    calls = []

    def fake(req, emit=print):
        calls.append(req)
        return RunResult(rc=0, status="successful", hosts={"id1": HostStats(ok=3)},
                         reports={"id1": {"snapshot_id": "4f2a9c1e" * 8, "data_added": 12}})

    monkeypatch.setattr(backup_mod, "run_playbook", fake)
    return calls


def inventory(make_inventory, target: str = TARGET, extra_hosts: str = "", **files):
    site = ("sov_domain: collab.example.eu\nsov_provider: ovhcloud\nsov_region: gra\n"
            "sov_country: FR\n" + target)
    return make_inventory({"hosts.yml": hosts_yml(extra_hosts),
                           "group_vars/all/main.yml": site, **files})


def test_empty_backup_target_names_file_field_and_fix(make_inventory, runs):
    inv = inventory(make_inventory, target="")
    result = CliRunner().invoke(cli, ["backup", "-i", str(inv)])
    assert result.exit_code == 65
    assert "group_vars/all/main.yml: sov_backup_target" in result.output
    assert "sftp:ACCOUNT@BACKUP_HOST:/PATH" in result.output
    assert runs == []


@pytest.mark.parametrize("target", ["s3:https://s3.example.eu/bucket", "backups/relative",
                                    "sftp:backup.example.eu:/restic"])
def test_unusable_backup_target_is_refused(make_inventory, runs, target):
    inv = inventory(make_inventory, target=f"sov_backup_target: {target}\n")
    result = CliRunner().invoke(cli, ["backup", "-i", str(inv)])
    assert result.exit_code == 65
    assert "sov_backup_target" in result.output and runs == []


def test_missing_repository_password_says_how_to_generate_it(make_inventory, runs):
    inv = make_inventory({"hosts.yml": hosts_yml(),
                          "group_vars/all/main.yml": "sov_domain: collab.example.eu\n"
                          "sov_provider: ovhcloud\nsov_region: gra\nsov_country: FR\n" + TARGET},
                         with_secrets=False)
    result = CliRunner().invoke(cli, ["backup", "-i", str(inv)])
    assert result.exit_code == 65
    assert "vault_backup_repo_password" in result.output
    assert "sovctl secrets ensure" in result.output
    assert runs == []


def test_no_identity_host_is_an_input_error(make_inventory, runs):
    inv = make_inventory()
    result = CliRunner().invoke(cli, ["backup", "-i", str(inv)])
    assert result.exit_code == 65 and "identity" in result.output and runs == []


def test_backup_runs_the_playbook_with_the_backup_host_and_reports_the_snapshot(
        make_inventory, runs):
    inv = inventory(make_inventory, extra_hosts=(
        "    backup_server:\n      hosts:\n"
        "        vault1: {ansible_host: 127.0.0.2, ansible_port: 1}\n"))
    result = CliRunner().invoke(cli, ["backup", "-i", str(inv)])
    assert result.exit_code == 0, result.output
    (req,) = runs
    assert req.playbooks[0].name == "backup.yml"
    assert req.limit == "id1,backup_server"
    assert "snapshot 4f2a9c1e" in result.output


def test_restore_is_refused_without_yes(make_inventory, runs):
    inv = inventory(make_inventory)
    result = CliRunner().invoke(cli, ["restore", "-i", str(inv)])
    assert result.exit_code == 65
    assert "--yes" in result.output and "id1" in result.output
    assert runs == []


@pytest.mark.parametrize("snapshot", ["last", "4f2a", "4F2A9C1E", "latest; rm -rf /"])
def test_restore_refuses_a_malformed_snapshot_id(make_inventory, runs, snapshot):
    inv = inventory(make_inventory)
    result = CliRunner().invoke(cli, ["restore", "-i", str(inv), "--snapshot", snapshot, "--yes"])
    assert result.exit_code == 65 and "--snapshot" in result.output and runs == []


def test_restore_needs_a_host_when_there_are_several(make_inventory, runs):
    inv2 = inventory(make_inventory)
    (inv2 / "hosts.yml").write_text(hosts_yml(identity=ID_HOST + ID_HOST.replace(
        "id1: {ansible_host: 127.0.0.1", "id2: {ansible_host: 127.0.0.2")))
    result = CliRunner().invoke(cli, ["restore", "-i", str(inv2), "--yes"])
    assert result.exit_code == 65 and "--host" in result.output and runs == []
    result = CliRunner().invoke(cli, ["restore", "-i", str(inv2), "--host", "id3", "--yes"])
    assert result.exit_code == 65 and "id1, id2" in result.output and runs == []


def test_restore_passes_the_snapshot_and_source_host(make_inventory, runs):
    inv = inventory(make_inventory)
    result = CliRunner().invoke(cli, ["restore", "-i", str(inv), "--snapshot", "4f2a9c1e",
                                      "--from-host", "old-id1", "--yes"])
    assert result.exit_code == 0, result.output
    (req,) = runs
    assert req.playbooks[0].name == "restore.yml"
    assert req.limit == "id1"
    assert req.extravars == {"backup_restore_snapshot": "4f2a9c1e",
                             "backup_restore_from_host": "old-id1"}


def test_backup_playbooks_are_not_deployable_services():
    from sovctl.services import registry

    assert not {"backup", "backup_server", "restore"} & set(registry())


def test_backup_role_interface_is_documented():
    assert_role_interface_documented(ROOT / "roles" / "backup", "backup_")


def test_audit_reads_the_repository_the_backup_role_uses(make_inventory):
    """The role backs up to sov_backup_target and the audit reports exactly that endpoint."""
    import yaml

    from sovctl.audit.service import AuditRequest, run_audit

    defaults = yaml.safe_load((ROOT / "roles" / "backup" / "defaults" / "main.yml").read_text())
    assert defaults["backup_repository"] == "{{ sov_backup_target | default('') }}"
    inv = inventory(make_inventory,
                    target="sov_backup_target: sftp:sovbackup@vault.example.com:/r\n")
    report = run_audit(AuditRequest(inv, "eu-sovereign", ROOT / "policies", ROOT / "roles"))
    backups = [e for e in report["endpoints"] if e["purpose"] == "backup"]
    assert len(backups) == 1 and "vault.example.com" in backups[0]["url"]
    assert backups[0]["verdict"] == "violation"  # location unknown: not allowed when sovereign
