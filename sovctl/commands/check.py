"""``sovctl check``: validate an inventory, then preflight its hosts (read-only)."""

from __future__ import annotations

from pathlib import Path

import click

from sovctl.errors import EXIT_BAD_INPUT, InputError
from sovctl.inventory import load_inventory
from sovctl.paths import default_inventory, project_root
from sovctl.runner import RunRequest, run_playbook
from sovctl.validate import Problem, check_secrets, validate


def audit_problems(inventory: Path) -> list[Problem]:
    """What ``sovctl audit`` would refuse as bad input: check and audit agree."""
    from sovctl.audit.service import AuditRequest, read_checked
    from sovctl.commands.audit import _content_dirs

    policies_dir, roles_dir = _content_dirs()
    try:
        read_checked(AuditRequest(inventory, None, policies_dir, roles_dir))
    except InputError as exc:
        where = ": ".join(p for p in (exc.file, exc.field) if p)
        message = exc.message[len(where) + 2:] if where and exc.message.startswith(
            where + ": ") else exc.message
        return [Problem(exc.file or str(inventory), exc.field or "-", message,
                        exc.hint or "see docs/inventory-validation.md")]
    return []


def sizing_warnings(inv) -> list[str]:
    """Where the hosts' declared sizes fall short of `sovctl plan` for the site's
    sov_planned_users (default assumptions): warnings, not errors. Runs after validate(),
    which refuses a sov_planned_users or a size that is no positive number."""
    from sovctl import plan as sizing

    users = next((h.vars.get("sov_planned_users") for h in inv.hosts.values()
                  if h.vars.get("sov_planned_users") is not None), None)
    if users is None:
        return []
    short = sizing.shortfalls(sizing.Assumptions(users=users),
                              sizing.available(sizing.host_sizes(inv)))
    return [f"for sov_planned_users={users:,}, {s} (see `sovctl plan -i INVENTORY "
            f"--users {users}`)" for s in short]


def check(inventory: Path, offline: bool = False, emit=click.echo) -> int:
    inv = load_inventory(inventory)
    problems = validate(inv, secrets=False)
    if not problems:
        problems += audit_problems(inventory)
    problems += check_secrets(inv)
    for p in problems:
        emit(str(p))
    if problems:
        emit(f"{len(problems)} problem(s) in {inventory}: fix them before deploying.")
        return EXIT_BAD_INPUT
    emit(f"Inventory {inventory}: {len(inv.hosts)} host(s), every variable valid.")
    for warning in sizing_warnings(inv):
        emit(f"Warning: {warning}")
    if offline:
        return 0
    result = run_playbook(RunRequest(playbooks=[project_root() / "playbooks" / "preflight.yml"],
                                     inventory=inventory,
                                     vault_password_file=inv.vault_password_file),
                          emit=lambda line: None)
    for f in result.failures:
        emit(f"{f['host']}: {f['task']}: {f['message']}")
    if result.rc == 0:
        emit("Preflight: every host reachable, supported and ready.")
    return result.rc


@click.command("check")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Inventory (default: the local sandbox).")
@click.option("--offline", is_flag=True, help="Only validate the inventory; contact no host.")
def command(inventory, offline):
    """Validate the inventory, then run read-only preflight checks on the hosts.

    Every problem names the file, the field and the fix. Preflight checks:
    reachability, Debian version, service ports free, public names resolving.

    \b
    Example:
      sovctl check -i inventories/prod --offline
    """
    raise SystemExit(check(inventory or default_inventory(), offline))
