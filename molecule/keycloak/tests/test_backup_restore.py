"""Backup and restore, as an operator runs them: a user created on kc1 after its
deployment is backed up with `sovctl backup` (sftp to kcprobe1's chrooted backup
account), restored with `sovctl restore` onto kcfresh1 (a Keycloak host converged on
its own, which never saw that user) and logs in there; every user of kc1 is back.

This module runs before test_keycloak.py (pytest's file order): the shared probes then
run on kcfresh1 as restored, which also holds kc1's pre-upgrade user.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile

import pytest

from sovctl.probes import context
from sovctl.probes.keycloak import admin, login, verified_claims

SOURCE, FRESH = "kc1", "kcfresh1"
WITNESS = "backup-witness"


def _admin(host_name: str, method: str, path: str, body: dict | None = None) -> str:
    """Keycloak's admin REST API on the host (409, already there, is fine)."""
    return admin(host_name, method, path, body, ok=("2", "409"))[1]


def _users(host_name: str) -> dict[str, str]:
    realm = context.inventory().hosts[host_name].vars.get("keycloak_realm", "sov")
    listed = json.loads(_admin(host_name, "GET",
                               f"/admin/realms/{realm}/users?briefRepresentation=true&max=10000"))
    return {u["username"]: u["id"] for u in listed}


def _kc(host_name: str) -> dict:
    """What sovctl.probes.keycloak.login needs to log in on this host, through its nginx."""
    inv_host = context.inventory().hosts[host_name]
    address = context.address_of(host_name)
    realm = inv_host.vars.get("keycloak_realm", "sov")
    ca = context.testinfra_host(host_name).file("/etc/ssl/sovctl/ca.crt").content_string
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as fh:
        fh.write(ca)
    return {"issuer": f"https://{address}/realms/{realm}", "verify": fh.name,
            "password": context.resolve(inv_host, "vault_sandbox_user_password")}


def _sovctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sovctl", *args], capture_output=True, text=True, timeout=900,
                          env=os.environ.copy(), check=False)


@pytest.fixture(scope="module")
def restored():
    names = {h.name for h in context.hosts("identity")}
    if not {SOURCE, FRESH} <= names or not context.hosts("backup_server"):
        pytest.skip(f"needs {SOURCE} and {FRESH} in 'identity' and a 'backup_server' host")
    inventory = context.inventory_path()
    realm = context.inventory().hosts[SOURCE].vars.get("keycloak_realm", "sov")
    source = _kc(SOURCE)
    _admin(SOURCE, "POST", f"/admin/realms/{realm}/users", {
        "username": WITNESS, "enabled": True, "email": "witness@sandbox.test",
        "emailVerified": True, "firstName": "Backup", "lastName": "Witness",
        "credentials": [{"type": "password", "value": source["password"],
                         "temporary": False}]})
    before = _users(SOURCE)
    fresh_before = _users(FRESH)

    backup = _sovctl("backup", "-i", inventory)
    assert backup.returncode == 0, backup.stdout[-4000:] + backup.stderr[-2000:]
    refused = _sovctl("restore", "-i", inventory, "--host", FRESH)
    # Every identity host was backed up, kcfresh1 too: restore kc1's latest snapshot.
    restore = _sovctl("restore", "-i", inventory, "--host", FRESH, "--from-host", SOURCE, "--yes")
    assert restore.returncode == 0, restore.stdout[-4000:] + restore.stderr[-2000:]
    yield {"before": before, "fresh_before": fresh_before, "after": _users(FRESH),
           "backup": backup, "refused": refused, "fresh": _kc(FRESH)}
    os.unlink(source["verify"])


def test_the_fresh_host_never_had_the_witness(restored):
    assert WITNESS in restored["before"]
    assert WITNESS not in restored["fresh_before"]


def test_backup_reports_a_snapshot_and_keeps_the_password_out_of_its_output(restored):
    out = restored["backup"].stdout
    assert "snapshot " in out
    assert restored["fresh"]["password"] not in out


def test_restore_is_refused_without_confirmation(restored):
    assert restored["refused"].returncode == 65
    assert "--yes" in restored["refused"].stderr


def test_every_user_is_back_with_the_same_identity(restored):
    assert restored["after"] == restored["before"]


def test_the_restored_user_logs_in_on_the_fresh_host(restored):
    token, error = login(restored["fresh"], WITNESS, restored["fresh"]["password"])
    assert error is None, error
    assert verified_claims(restored["fresh"], token)["preferred_username"] == WITNESS


def test_the_inventory_copy_keeps_the_vault_encrypted(restored):
    vault = context.testinfra_host(SOURCE).file(
        "/var/backups/sovctl/inventory/group_vars/all/vault.yml")
    assert vault.exists and vault.mode == 0o600
    assert vault.content_string.startswith("$ANSIBLE_VAULT;")


def test_the_backup_host_holds_only_ciphertext(restored):
    server = context.testinfra_host(context.hosts("backup_server")[0].name)
    files = server.check_output("find /srv/sovctl-backup -type f | wc -l")
    assert int(files) > 5
    for plain in (WITNESS, "witness@sandbox.test", "PGDMP", "ANSIBLE_VAULT"):
        assert server.run(f"grep -rqF {shlex.quote(plain)} /srv/sovctl-backup").rc == 1, plain


def test_the_backup_account_has_no_shell(restored):
    client = context.testinfra_host(FRESH)
    server = context.address_of(context.hosts("backup_server")[0].name)
    out = client.run("timeout 20 ssh -F /etc/sovctl-backup/ssh_config "
                     f"sovbackup@{server} id")
    assert out.rc != 0 and "uid=" not in out.stdout
