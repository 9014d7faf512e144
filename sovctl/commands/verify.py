"""``sovctl verify``: the probes the molecule scenarios run, against any inventory."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import click

from sovctl.errors import InputError, UnavailableError
from sovctl.inventory import load_inventory
from sovctl.paths import default_inventory
from sovctl.runner import tools_path
from sovctl.services import registry as services_registry


def probe_requirements() -> list[str]:
    """The distributions of the package's `verify` extra (pyproject.toml), read from the
    installed package's metadata: the one list. Empty where sovctl runs uninstalled."""
    from importlib import metadata

    from packaging.requirements import Requirement

    try:
        requires = metadata.requires("sovctl") or []
    except metadata.PackageNotFoundError:
        return []
    reqs = [Requirement(r) for r in requires]
    return sorted(r.name for r in reqs
                  if r.marker is not None and r.marker.evaluate({"extra": "verify"})
                  and not r.marker.evaluate({"extra": ""}))


def require_probe_dependencies() -> None:
    """UnavailableError (exit 69) naming the extra when a probe dependency is missing."""
    from importlib import metadata

    def installed(dist: str) -> bool:
        try:
            metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            return False
        return True

    missing = [dist for dist in probe_requirements() if not installed(dist)]
    if missing:
        raise UnavailableError(
            "sovctl verify needs its probes' dependencies, missing: " + ", ".join(missing),
            hint=f"install the extra into sovctl's environment ({sys.prefix}): "
                 "pip install 'sovctl[verify]'")


def check_modules(inv, wanted: list[str]) -> list[str]:
    """The verify modules for the services of the registry (all, or those named) whose
    groups have hosts in ``inv``. A check module's name is accepted for its service."""
    registry = services_registry()
    known = set(registry) | {m for s in registry.values() for m in s.checks}
    for name in wanted:
        if name not in known:
            raise InputError(f"unknown service {name!r}", field="--service",
                             hint="one of: " + ", ".join(registry))
    return [mod for name, svc in registry.items() for mod, group in svc.checks.items()
            if inv.hosts_in(group) and (not wanted or name in wanted or mod in wanted)]


def probe_suite(module: str):
    """The probes library's suite of a registry's check module, or None when there is none."""
    import importlib
    import importlib.util

    if importlib.util.find_spec(f"sovctl.probes.{module}") is None:
        return None
    return getattr(importlib.import_module(f"sovctl.probes.{module}"), "suite", None)


def run_probes(inventory: Path, inv, modules: list[str], echo=click.echo) -> list:
    """The probes of ``modules``' suites, run in this process: their results, and a line
    with the evidence of every probe that failed or was skipped."""
    from sovctl.probes import Run

    env = {"PATH": tools_path()}
    if inv.vault_password_file and not os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE"):
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(inv.vault_password_file)
    results = []
    with Run(inventory.resolve(), env=env) as run:
        for module in modules:
            for result in probe_suite(module).run(run):
                results.append(result)
                if result.outcome != "passed":
                    echo(f"{result.outcome.upper()} {result.host} {result.service} "
                         f"{result.probe}: {result.evidence}")
    return results


def tabulate(results: list, services: list[str]) -> dict[tuple[str, str], Counter]:
    """Outcomes per (host, service); a service of ``services`` with no result is a row of
    its own with nothing checked."""
    table: dict[tuple[str, str], Counter] = {}
    for result in results:
        table.setdefault((result.host, result.service), Counter())[result.outcome] += 1
    for service in services:
        if not any(s == service for _, s in table):
            table[("-", service)] = Counter()
    return table


def run_checks(inventory: Path, services: list[str] | None = None,
               echo=click.echo) -> tuple[list, list[str]]:
    """Run the probes of the services asked for (all by default) whose groups have hosts:
    their results and the suites' service names."""
    inv = load_inventory(inventory)
    modules = check_modules(inv, services or [])
    if not modules:
        echo("No service of this inventory has checks yet.")
        return [], []
    require_probe_dependencies()
    return run_probes(inventory, inv, modules, echo), [probe_suite(m).service for m in modules]


@click.command("verify")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Inventory (default: the local sandbox).")
@click.option("--service", "services", multiple=True,
              help="Only this service of the registry, e.g. conferencing (repeatable).")
@click.option("--metrics", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the results as Prometheus metrics to this file (replaced "
                   "atomically; for node_exporter's textfile collector).")
def command(inventory, services, metrics):
    """Check the deployed services from outside, as their clients would.

    The same probes the molecule scenarios run: TURN allocations and relay,
    OIDC logins through Keycloak, LiveKit media between two SDK clients,
    Collabora's discovery, two users meeting in the meeting app in headless
    Chromium (skipped, with the reason, without chromium or certutil), and,
    from a host of group `scanner`, nmap, testssl.sh and SSH password refusal
    against every host.

    \b
    Examples:
      sovctl verify -i inventories/prod --service coturn
      sovctl verify -i inventories/prod --metrics /var/lib/prometheus/node-exporter/sovctl.prom
    """
    inventory = inventory or default_inventory()
    if metrics and not metrics.parent.is_dir():
        raise InputError(f"{metrics.parent} is not a directory", field="--metrics",
                         hint="name a file in an existing directory, e.g. node_exporter's "
                              "textfile directory")
    results, suites = run_checks(inventory, list(services))
    if metrics:
        from sovctl.probes.metrics import write_textfile

        write_textfile(metrics, results)
    table = tabulate(results, suites)
    if table:
        click.echo(f"{'HOST':<20} {'SERVICE':<12} {'PASSED':>6} {'FAILED':>6} {'SKIPPED':>7}")
        for (host, service), c in sorted(table.items()):
            click.echo(f"{host:<20} {service:<12} {c['passed']:>6} {c['failed']:>6} "
                       f"{c['skipped']:>7}  {verdict(c)}")
    raise SystemExit(exit_code(table))


def verdict(counts: Counter) -> str:
    """FAIL when a check failed; NOTHING CHECKED when every check was skipped."""
    if counts["failed"]:
        return "FAIL"
    return "PASS" if counts["passed"] else "NOTHING CHECKED"


def exit_code(table: dict[tuple[str, str], Counter]) -> int:
    """0 when probes ran and none failed. A run in which every probe was skipped proves
    nothing: 1, as a failure."""
    if any(c["failed"] for c in table.values()):
        return 1
    return 0 if not table or any(c["passed"] for c in table.values()) else 1
