"""``sovctl upgrade``: a rolling upgrade (or restart) of Keycloak and LiveKit, one node at
a time, with an automatic rollback of the node whose new version does not become
healthy (playbooks/upgrade.yml).

The request is checked before any host is touched: the service, a catalogued target
version, hosts in the service's group, and the inventory itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from sovctl import __version__, services
from sovctl.commands.deploy import recap, write_run_record
from sovctl.errors import EXIT_INTERRUPTED, InputError
from sovctl.inventory import Inventory, load_inventory
from sovctl.mirror import load_catalogue
from sovctl.paths import default_inventory, project_root
from sovctl.runner import RunRequest, run_playbook
from sovctl.validate import raise_on_problems, validate

PLAYBOOK = "upgrade.yml"
STOP_TASK = "Stop the rollout"
MIN_HEALTH_TIMEOUT = 10


def check_upgrade_request(inv: Inventory, inventory: Path, *, service: str, to: str | None,
                          restart_only: bool, health_timeout: int) -> dict:
    """The playbook's extra vars; InputError naming the option or file and the fix."""
    # component -> {group of its nodes, artifact name in the catalogue}, from the registry
    components = services.upgradable()
    if service not in ("all", *components):
        raise InputError(f"unknown service {service!r}", field="--service",
                         hint="one of: all, " + ", ".join(components))
    if to and restart_only:
        raise InputError("--to and --restart-only are exclusive", field="--to",
                         hint="--restart-only restarts each node on its current version; "
                              "drop one of them")
    if to and service == "all":
        raise InputError("--to needs one service: Keycloak and LiveKit have their own versions",
                         field="--to", hint="add --service keycloak or --service livekit")
    if health_timeout < MIN_HEALTH_TIMEOUT:
        raise InputError(f"{health_timeout} s is too short for a node to start",
                         field="--health-timeout",
                         hint=f"give at least {MIN_HEALTH_TIMEOUT} seconds (default 300)")
    chosen = list(components) if service == "all" else [service]
    if to:
        catalogue = load_catalogue()
        artifact = components[service]["artifact"]
        versions = catalogue.versions(artifact)
        if to not in versions:
            raise InputError(
                f"{service} {to} is not in the artifact catalogue", file=str(catalogue.path),
                field="--to",
                hint=f"catalogued versions of {artifact}: {', '.join(versions)}. To add one, add "
                     f"its entry (sha256 recorded) to {catalogue.path.name} and fill your mirror "
                     f"with `sovctl mirror sync DIR --only {artifact}@{to}`")
    present = [s for s in chosen if inv.hosts_in(components[s]["group"])]
    if not present:
        groups = " or ".join(repr(components[s]["group"]) for s in chosen)
        raise InputError(f"no host in the {groups} group: nothing to upgrade",
                         file=str(inventory), field="--service",
                         hint="upgrade a service this inventory deploys")
    extravars: dict = {"upgrade_service": service,
                       "upgrade_health_timeout": health_timeout,
                       "upgrade_restart_only": restart_only}
    if to:
        extravars[f"upgrade_{service}_version"] = to
    return extravars


def upgrade(inventory: Path, *, service: str = "all", to: str | None = None,
            limit: str | None = None, restart_only: bool = False, check: bool = False,
            health_timeout: int = 300, verbosity: int = 0, emit=click.echo) -> int:
    inv = load_inventory(inventory)
    extravars = check_upgrade_request(inv, inventory, service=service, to=to,
                                      restart_only=restart_only, health_timeout=health_timeout)
    raise_on_problems(validate(inv, templates=False))
    req = RunRequest(playbooks=[project_root() / "playbooks" / PLAYBOOK], inventory=inventory,
                     limit=limit, check=check, extravars=extravars, verbosity=verbosity,
                     vault_password_file=inv.vault_password_file)
    started = dt.datetime.now(dt.UTC)
    what = ("rolling restart" if restart_only else "rolling upgrade") + f" of {service}" + (
        f" to {to}" if to else "")
    emit(f"sovctl {__version__}: {what} on {inventory}" + (" (check mode)" if check else ""))
    result = run_playbook(req, emit=emit)
    emit(recap(result))
    emit(f"Run record: {write_run_record(req, result, started)}")
    if result.cancelled:
        emit("Upgrade interrupted: the node being upgraded may be on either version. Re-run the "
             "same command: nodes already at the target are left alone.")
        return EXIT_INTERRUPTED
    for failure in result.failures:
        if failure["task"].startswith(STOP_TASK):
            emit(f"Upgrade stopped: {failure['message']}")
    if result.rc == 0 and not check:
        emit("Every node is at the target and healthy.")
    return result.rc


@click.command("upgrade")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Inventory directory or file (default: the local sandbox).")
@click.option("--service", default="all", show_default=True,
              help="all, or one upgradable component of the registry (keycloak, livekit).")
@click.option("--to", "to", metavar="VERSION",
              help="A catalogued version (`sovctl mirror list`; default: the newest). "
                   "Needs --service.")
@click.option("-l", "--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("--restart-only", is_flag=True,
              help="Restart each node in turn on its current version (no version change).")
@click.option("--health-timeout", type=int, default=300, show_default=True,
              help="Seconds a node has to become healthy before it is rolled back.")
@click.option("-C", "--check", is_flag=True, help="Dry run: say which nodes would change.")
@click.option("-v", "--verbose", count=True, help="More Ansible output.")
def command(inventory, service, to, limit, restart_only, health_timeout, check, verbose):
    """Upgrade Keycloak and/or LiveKit one node at a time: each node's database is dumped
    first (Keycloak), the new version installed, activated and waited for; a node that
    does not become healthy is rolled back (previous version, database restored) and the
    rollout stops there, with a non-zero exit naming the host.

    \b
    Examples:
      sovctl upgrade -i inventories/prod --service keycloak --to 26.7.3
      sovctl upgrade -i inventories/prod --service livekit --limit rtc2
      sovctl upgrade -i inventories/prod --restart-only
    """
    if inventory is None:
        inventory = default_inventory()
        click.echo(f"No inventory given: using the local sandbox ({inventory}).")
    raise SystemExit(upgrade(inventory, service=service, to=to, limit=limit,
                             restart_only=restart_only, check=check,
                             health_timeout=health_timeout, verbosity=verbose))
