"""``sovctl status``: each service up or down, its version, certificate expiry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from sovctl.inventory import load_inventory
from sovctl.paths import default_inventory, project_root
from sovctl.runner import RunRequest, run_playbook

CERT_WARN_DAYS = 21


def parse(lines: list[str]) -> dict:
    out: dict = {"units": {}, "versions": {}, "cert": None}
    for line in lines or []:
        kind, _, rest = line.partition(" ")
        if kind == "unit":
            name, _, state = rest.partition(" ")
            out["units"][name] = state or "unknown"
        elif kind == "version":
            name, _, version = rest.partition(" ")
            out["versions"][name] = version
        elif kind == "cert":
            out["cert"] = dt.datetime.strptime(rest.strip(), "%b %d %H:%M:%S %Y %Z").replace(
                tzinfo=dt.UTC)
    return out


def status(inventory: Path, emit=click.echo, now: dt.datetime | None = None) -> int:
    inv = load_inventory(inventory)
    result = run_playbook(RunRequest(playbooks=[project_root() / "playbooks" / "status.yml"],
                                     inventory=inventory,
                                     vault_password_file=inv.vault_password_file),
                          emit=lambda _line: None)
    now = now or dt.datetime.now(dt.UTC)
    down = 0
    for host in sorted(inv.hosts):
        if host in {f["host"] for f in result.failures}:
            emit(f"{host:<20} UNREACHABLE")
            down += 1
            continue
        info = parse(result.reports.get(host) or [])
        for unit, state in sorted(info["units"].items()):
            # Packages and artifacts (/opt/<name>/current) are named like their units.
            version = info["versions"].get(unit, "")
            flag = "up" if state == "active" else "DOWN"
            down += state != "active"
            emit(f"{host:<20} {unit:<14} {flag:<5} {version}")
        if info["cert"]:
            days = (info["cert"] - now).days
            note = " (renew soon)" if days < CERT_WARN_DAYS else ""
            emit(f"{host:<20} {'certificate':<14} {days} days left{note}")
    return 0 if down == 0 and result.rc == 0 else 1


@click.command("status")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Inventory (default: the local sandbox).")
def command(inventory):
    """Show each service up or down, its version, and certificate expiry.

    Exits 1 when a service is down or a host unreachable.

    \b
    Example:
      sovctl status -i inventories/prod
    """
    raise SystemExit(status(inventory or default_inventory()))
