"""``sovctl status``: each service up or down, its version, certificate expiry; with a
monitoring host, what its Prometheus knows (targets, synthetic probes, firing alerts)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from sovctl.inventory import load_inventory
from sovctl.paths import default_inventory, project_root
from sovctl.runner import RunRequest, run_playbook

CERT_WARN_DAYS = 21


def parse(lines: list[str]) -> dict:
    out: dict = {"units": {}, "versions": {}, "cert": None, "alerts": [], "targets": [],
                 "probes": [], "prometheus": None}
    for line in lines or []:
        kind, _, rest = line.partition(" ")
        if kind == "alert":
            severity, alertname, instance, summary = (rest.split(" ", 3) + ["", "", ""])[:4]
            out["alerts"].append((severity, alertname, instance, summary))
        elif kind == "target":
            health, job, instance = (rest.split(" ", 2) + ["", ""])[:3]
            out["targets"].append((health, job, instance))
        elif kind == "probe":
            value, name, target = (rest.split(" ", 2) + ["", ""])[:3]
            out["probes"].append((value == "1", name, target))
        elif kind == "prometheus":
            out["prometheus"] = rest
        elif kind == "unit":
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
            emit(f"{host:<20} {unit:<28} {flag:<5} {version}")
        if info["cert"]:
            days = (info["cert"] - now).days
            note = " (renew soon)" if days < CERT_WARN_DAYS else ""
            emit(f"{host:<20} {'certificate':<28} {days} days left{note}")
        down += _prometheus(host, info, emit)
    return 0 if down == 0 and result.rc == 0 else 1


def _prometheus(host: str, info: dict, emit) -> int:
    """What the monitoring host's Prometheus knows; the number of problems it reports (a
    target down, a synthetic probe failing, a critical alert firing)."""
    if info["prometheus"]:
        emit(f"{host:<20} {'prometheus':<28} DOWN  {info['prometheus']}")
        return 1
    if not (info["targets"] or info["alerts"] or info["probes"]):
        return 0
    problems = 0
    down = [(job, inst) for health, job, inst in info["targets"] if health != "up"]
    emit(f"{host:<20} {'prometheus':<28} {len(info['targets']) - len(down)} of "
         f"{len(info['targets'])} targets up")
    for job, inst in sorted(down):
        emit(f"{host:<20} {'target':<28} DOWN  {job} on {inst}")
    for ok, name, target in sorted(info["probes"], key=lambda p: (p[1], p[2])):
        emit(f"{host:<20} {'probe':<28} {'ok' if ok else 'FAIL':<5} {name} on {target}")
    for severity, alertname, instance, summary in sorted(info["alerts"]):
        emit(f"{host:<20} {'alert':<28} {severity.upper():<5} {alertname} ({instance}): "
             f"{summary}")
    problems += len(down) + sum(not ok for ok, _n, _t in info["probes"])
    return problems + sum(s == "critical" for s, _a, _i, _s in info["alerts"])


@click.command("status")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Inventory (default: the local sandbox).")
def command(inventory):
    """Show each service up or down, its version, and certificate expiry; with a
    monitoring host, its Prometheus' targets, synthetic probes and firing alerts.

    Exits 1 when a service is down, a host unreachable, a scrape target down, a
    synthetic probe failing or a critical alert firing.

    \b
    Example:
      sovctl status -i inventories/prod
    """
    raise SystemExit(status(inventory or default_inventory()))
