"""``sovctl backup`` and ``sovctl restore``: encrypted restic snapshots of the identity
hosts (Keycloak database, site configuration, the inventory) and their restore.

Both check the inventory before any host is touched: a backup target, its repository
password in the vault, and for a restore an explicit confirmation, since it replaces
the database of the target host.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click

from sovctl import __version__
from sovctl.commands.deploy import recap, write_run_record
from sovctl.errors import EXIT_INTERRUPTED, InputError
from sovctl.inventory import Inventory, load_inventory
from sovctl.paths import default_inventory, project_root
from sovctl.runner import RunRequest, run_playbook
from sovctl.validate import raise_on_problems, validate

CLIENT_GROUP = "identity"
SERVER_GROUP = "backup_server"
TARGET_VAR = "sov_backup_target"
PASSWORD_VAR = "vault_backup_repo_password"  # noqa: S105 - a variable name, not a password
# restic repositories sovctl sets up: sftp to a backup host, or a local path.
TARGET_RE = re.compile(r"^(sftp:[^@:/\s]+@[^:/\s]+:\S+|/\S*)$")
SNAPSHOT_RE = re.compile(r"^(latest|[0-9a-f]{8,64})$")
TARGET_HINT = (f"set {TARGET_VAR} to a restic repository: sftp:ACCOUNT@BACKUP_HOST:/PATH "
               "(an EU backup host; put it in the backup_server group to have sovctl set up a "
               "chrooted sftp account) or an absolute path on the host (not off-site)")


def _is_template(value) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _vars_file(inventory: Path) -> str:
    """Where a site-wide variable is set: group_vars/all/main.yml of an inventory directory."""
    return str(inventory / "group_vars" / "all" / "main.yml") if inventory.is_dir() \
        else str(inventory)


def check_backup_inventory(inv: Inventory, inventory: Path, host: str | None = None) -> list[str]:
    """The identity hosts to back up or restore; InputError naming file, field and fix."""
    clients = [h for h in inv.hosts_in(CLIENT_GROUP) if host is None or h.name == host]
    if not clients:
        if host is not None:
            raise InputError(f"host {host!r} is not in the {CLIENT_GROUP!r} group",
                             file=str(inventory), field="--host",
                             hint="one of: " + (", ".join(sorted(
                                 h.name for h in inv.hosts_in(CLIENT_GROUP))) or "(none)"))
        raise InputError(f"no host in the {CLIENT_GROUP!r} group: nothing to back up",
                         file=str(inventory), field=CLIENT_GROUP,
                         hint="backups cover the Keycloak hosts; add them to that group")
    for h in clients:
        target = h.vars.get("backup_repository") or h.vars.get(TARGET_VAR) or ""
        if not isinstance(target, str) or not target.strip():
            raise InputError(f"is empty for host {h.name}: backups have nowhere to go",
                             file=_vars_file(inventory), field=TARGET_VAR, hint=TARGET_HINT)
        if not _is_template(target) and not TARGET_RE.match(target.strip()):
            raise InputError(f"{target!r} is not a repository sovctl can use",
                             file=_vars_file(inventory), field=TARGET_VAR, hint=TARGET_HINT)
        if not (h.vars.get("backup_password") or h.vars.get(PASSWORD_VAR)):
            vault = inventory / "group_vars" / "all" / "vault.yml" if inventory.is_dir() \
                else inventory
            raise InputError(f"the repository password is missing (host {h.name})",
                             file=str(vault), field=PASSWORD_VAR,
                             hint=f"run `sovctl secrets ensure -i {inventory}` (it only adds "
                                  "missing secrets)")
    return [h.name for h in clients]


def _limit(inv: Inventory, hosts: list[str]) -> str:
    """The chosen clients, and the backup host that must accept their keys."""
    names = list(hosts)
    if inv.hosts_in(SERVER_GROUP):
        names.append(SERVER_GROUP)
    return ",".join(names)


def _run(inventory: Path, inv: Inventory, playbook: str, hosts: list[str], extravars: dict,
         verbosity: int, emit) -> tuple[int, dict]:
    req = RunRequest(playbooks=[project_root() / "playbooks" / playbook], inventory=inventory,
                     limit=_limit(inv, hosts), extravars=extravars, verbosity=verbosity,
                     vault_password_file=inv.vault_password_file)
    started = dt.datetime.now(dt.UTC)
    emit(f"sovctl {__version__}: {playbook} on {inventory} ({', '.join(hosts)})")
    result = run_playbook(req, emit=emit)
    emit(recap(result))
    emit(f"Run record: {write_run_record(req, result, started)}")
    if result.cancelled:
        return EXIT_INTERRUPTED, result.reports
    return result.rc, result.reports


def backup(inventory: Path, *, host: str | None = None, verbosity: int = 0,
           emit=click.echo) -> int:
    inv = load_inventory(inventory)
    hosts = check_backup_inventory(inv, inventory, host)
    raise_on_problems(validate(inv, templates=False))
    rc, reports = _run(inventory, inv, "backup.yml", hosts, {}, verbosity, emit)
    for name in hosts:
        summary = reports.get(name)
        if isinstance(summary, dict) and summary.get("snapshot_id"):
            emit(f"{name}: snapshot {summary['snapshot_id'][:8]} "
                 f"({summary.get('data_added', 0)} bytes added)")
    return rc


def restore(inventory: Path, *, host: str | None = None, snapshot: str = "latest",
            from_host: str | None = None, yes: bool = False, verbosity: int = 0,
            emit=click.echo) -> int:
    if not SNAPSHOT_RE.match(snapshot):
        raise InputError(f"{snapshot!r} is not a snapshot ID", field="--snapshot",
                         hint="`latest` or a restic snapshot ID (8 to 64 hexadecimal digits, "
                              "as `sovctl backup` prints)")
    inv = load_inventory(inventory)
    hosts = check_backup_inventory(inv, inventory, host)
    if len(hosts) > 1:
        raise InputError(f"{len(hosts)} hosts in the {CLIENT_GROUP!r} group: say which one to "
                         "restore", file=str(inventory), field="--host",
                         hint="one of: " + ", ".join(hosts))
    if not yes:
        raise InputError(f"restore replaces the Keycloak database of {hosts[0]} with snapshot "
                         f"{snapshot}: what it holds now is lost", field="--yes",
                         hint="re-run with --yes to confirm")
    raise_on_problems(validate(inv, templates=False))
    extravars = {"backup_restore_snapshot": snapshot,
                 "backup_restore_from_host": from_host or ""}
    rc, _reports = _run(inventory, inv, "restore.yml", hosts, extravars, verbosity, emit)
    if rc == 0:
        emit(f"{hosts[0]}: restored snapshot {snapshot}; Keycloak is healthy.")
    return rc


def _inventory_or_default(inventory: Path | None) -> Path:
    if inventory is None:
        inventory = default_inventory()
        click.echo(f"No inventory given: using the local sandbox ({inventory}).")
    return inventory


@click.command("backup")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Inventory directory or file (default: the local sandbox).")
@click.option("--host", help="Back up this identity host only (default: all of them).")
@click.option("-v", "--verbose", count=True, help="More Ansible output.")
def backup_command(inventory, host, verbose):
    """Take an encrypted snapshot of Keycloak's database, its site configuration and the
    inventory, in the restic repository sov_backup_target.

    \b
    Examples:
      sovctl backup -i inventories/prod
      sovctl backup -i inventories/prod --host id1
    """
    raise SystemExit(backup(_inventory_or_default(inventory), host=host, verbosity=verbose))


@click.command("restore")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Inventory directory or file (default: the local sandbox).")
@click.option("--host", help="The identity host to restore (needed when there are several).")
@click.option("--snapshot", default="latest", show_default=True,
              help="Snapshot ID to restore (as `sovctl backup` prints it).")
@click.option("--from-host", help="Only snapshots taken on this host (default: any host).")
@click.option("--yes", is_flag=True,
              help="Confirm: the host's Keycloak database is replaced by the snapshot's.")
@click.option("-v", "--verbose", count=True, help="More Ansible output.")
def restore_command(inventory, host, snapshot, from_host, yes, verbose):
    """Restore Keycloak's database from a snapshot onto an identity host (typically a
    freshly deployed one): every user of the snapshot is back, whatever the host held
    before is replaced. Refused without --yes.

    \b
    Examples:
      sovctl restore -i inventories/prod --host id2 --yes
      sovctl restore -i inventories/prod --snapshot 4f2a9c1e --from-host id1 --yes
    """
    raise SystemExit(restore(_inventory_or_default(inventory), host=host, snapshot=snapshot,
                             from_host=from_host, yes=yes, verbosity=verbose))


commands = [backup_command, restore_command]
