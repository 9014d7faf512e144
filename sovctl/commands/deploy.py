"""``sovctl deploy``: validate the inventory, then run the playbooks with progress."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import click

from sovctl import __version__, services
from sovctl.errors import EXIT_DRIFT, EXIT_INTERRUPTED, InputError
from sovctl.inventory import load_inventory
from sovctl.paths import default_inventory, project_root, state_dir
from sovctl.runner import RunRequest, RunResult, run_playbook
from sovctl.validate import raise_on_problems, validate


def resolve_playbooks(service: str | None, playbook: Path | None) -> list[Path]:
    """site.yml; or for one service: the baseline, its playbook and the firewall."""
    if playbook and service:
        raise InputError("--service and --playbook are exclusive", hint="give only one")
    if playbook:
        if not playbook.is_file():
            raise InputError("playbook not found", file=str(playbook))
        return [playbook]
    books = project_root() / "playbooks"
    if service:
        return [books / "common.yml", services.service(service).playbook_path,
                books / "firewall.yml"]
    return [books / "site.yml"]


def write_run_record(req: RunRequest, result: RunResult, started: dt.datetime) -> Path:
    """A JSON record of the run: what ran, where, and per-host counts. No variables, no secrets."""
    runs = state_dir(req.inventory) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    record = {
        "sovctl": __version__,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "playbooks": [str(p) for p in req.playbooks],
        "inventory": str(req.inventory),
        "limit": req.limit, "tags": req.tags, "check": req.check,
        "rc": result.rc, "status": result.status, "cancelled": result.cancelled,
        "hosts": {h: vars(s) for h, s in sorted(result.hosts.items())},
        "failures": result.failures,
        "changed_tasks": result.changed_tasks,
    }
    path = runs / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


MAX_LISTED_CHANGES = 40


def recap(result: RunResult) -> str:
    lines = []
    if result.changed_tasks:
        lines += ["", "CHANGED"]
        for item in result.changed_tasks[:MAX_LISTED_CHANGES]:
            label = item["task"] if not item.get("role") or item["task"].startswith(
                f"{item['role']} :") else f"{item['role']} : {item['task']}"
            lines.append(f"  {item['host']:<24} {label}")
        if len(result.changed_tasks) > MAX_LISTED_CHANGES:
            lines.append(f"  ... and {len(result.changed_tasks) - MAX_LISTED_CHANGES} more "
                         "(all in the run record)")
    lines += ["", "RECAP"]
    for host, s in sorted(result.hosts.items()):
        lines.append(f"  {host:<24} ok={s.ok:<4} changed={s.changed:<4} failed={s.failed:<3} "
                     f"unreachable={s.unreachable:<3} skipped={s.skipped}")
    unreachable = sorted(h for h, s in result.hosts.items() if s.unreachable)
    failed = sorted(h for h, s in result.hosts.items() if s.failed)
    if unreachable:
        lines.append(f"Unreachable: {', '.join(unreachable)} (check the address, SSH access "
                     "and that the host is up; then re-run: finished hosts will not change)")
    if failed:
        lines.append(f"Failed: {', '.join(failed)}")
    return "\n".join(lines)


def deploy(inventory: Path, *, service=None, playbook=None, limit=None, tags=None,
           skip_tags=None, check=False, diff=False, fail_on_change=False, verbosity=0,
           emit=click.echo) -> int:
    inv = load_inventory(inventory)
    raise_on_problems(validate(inv, templates=False))
    req = RunRequest(playbooks=resolve_playbooks(service, playbook), inventory=inventory,
                     limit=limit, tags=tags, skip_tags=skip_tags, check=check, diff=diff,
                     verbosity=verbosity, vault_password_file=inv.vault_password_file)
    started = dt.datetime.now(dt.UTC)
    emit(f"sovctl {__version__}: {', '.join(p.name for p in req.playbooks)} on {inventory}"
         + (" (check mode)" if check else ""))
    result = run_playbook(req, emit=emit)
    emit(recap(result))
    record = write_run_record(req, result, started)
    emit(f"Run record: {record}")
    if result.cancelled:
        emit("Deploy interrupted. Re-run the same command to converge.")
        return EXIT_INTERRUPTED
    if result.rc == 0 and fail_on_change and result.changed:
        emit(f"{result.changed} change(s) in check mode: the hosts drifted from the inventory.")
        return EXIT_DRIFT
    return result.rc


@click.command("deploy")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Inventory directory or file (default: the local sandbox).")
@click.option("--service", help="Deploy one service of the registry only (e.g. coturn): the "
              "baseline, its playbook and every host's firewall.")
@click.option("--playbook", type=click.Path(path_type=Path),
              help="Run this playbook instead of the site playbook.")
@click.option("-l", "--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("-t", "--tags", help="Only tasks with these tags (comma-separated).")
@click.option("--skip-tags", help="Skip tasks with these tags.")
@click.option("-C", "--check", is_flag=True, help="Dry run: report what would change.")
@click.option("-D", "--diff", is_flag=True, help="Show file differences (secrets stay hidden).")
@click.option("--fail-on-change", is_flag=True,
              help=f"With --check: exit {EXIT_DRIFT} if anything would change (drift detection).")
@click.option("-v", "--verbose", count=True, help="More Ansible output (-vvv for debugging).")
def command(inventory, service, playbook, limit, tags, skip_tags, check, diff, fail_on_change,
            verbose):
    """Deploy the stack (or one service) with Ansible, after validating the inventory.

    Exits with Ansible's own exit code (0 ok, 2 a host failed, 4 unreachable),
    65 for an invalid inventory, 80 for drift with --check --fail-on-change.

    \b
    Examples:
      sovctl deploy                                  # the sandbox
      sovctl deploy -i inventories/prod --service coturn
      sovctl deploy -i inventories/prod --check --diff --limit turn1
    """
    if inventory is None:
        inventory = default_inventory()
        click.echo(f"No inventory given: using the local sandbox ({inventory}).")
    raise SystemExit(deploy(inventory, service=service, playbook=playbook, limit=limit,
                            tags=tags, skip_tags=skip_tags, check=check, diff=diff,
                            fail_on_change=fail_on_change, verbosity=verbose))
