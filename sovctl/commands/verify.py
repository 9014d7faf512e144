"""``sovctl verify``: the checks molecule runs, against any inventory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import click

from sovctl.errors import InputError, UnavailableError
from sovctl.inventory import load_inventory
from sovctl.paths import default_inventory
from sovctl.runner import tools_path
from sovctl.services import registry as services_registry

CHECKS_DIR = Path(__file__).resolve().parent.parent / "checks"


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
    """The probes library's suite for a check module, or None while it is a pytest module."""
    import importlib
    import importlib.util

    if importlib.util.find_spec(f"sovctl.probes.{module}") is None:
        return None
    return getattr(importlib.import_module(f"sovctl.probes.{module}"), "suite", None)


def run_probes(inventory: Path, inv, modules: list[str], echo=click.echo,
               ) -> dict[tuple[str, str], Counter]:
    """The probes of ``modules``' suites, in this process: outcomes per (host, service), and
    a line with the evidence for every probe that failed or was skipped."""
    from sovctl.probes import Run

    env = {"PATH": tools_path()}
    if inv.vault_password_file and not os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE"):
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(inv.vault_password_file)
    table: dict[tuple[str, str], Counter] = {}
    with Run(inventory.resolve(), env=env) as run:
        for module in modules:
            suite = probe_suite(module)
            for result in suite.run(run):
                table.setdefault((result.host, result.service), Counter())[result.outcome] += 1
                if result.outcome != "passed":
                    echo(f"{result.outcome.upper()} {result.host} {result.service} "
                         f"{result.probe}: {result.evidence}")
    return table


def run_checks(inventory: Path, services: list[str] | None = None,
               echo=click.echo) -> tuple[int, dict[tuple[str, str], Counter]]:
    inv = load_inventory(inventory)
    modules = check_modules(inv, services or [])
    if not modules:
        echo("No service of this inventory has checks yet.")
        return 0, {}
    require_probe_dependencies()
    probed = [m for m in modules if probe_suite(m) is not None]
    legacy = [m for m in modules if m not in probed]
    table = run_probes(inventory, inv, probed, echo) if probed else {}
    rc = 0
    if legacy:
        rc, found = run_pytest_checks(inventory, inv, legacy, echo)
        table.update(found)
    return rc, table


def run_pytest_checks(inventory: Path, inv, modules: list[str], echo=click.echo,
                      ) -> tuple[int, dict[tuple[str, str], Counter]]:
    """The check modules not yet in the probes library, through pytest."""
    with tempfile.TemporaryDirectory(prefix="sovctl-verify-") as tmp:
        junit = Path(tmp) / "junit.xml"
        env = dict(os.environ, SOVCTL_VERIFY_INVENTORY=str(inventory.resolve()),
                   PATH=tools_path())
        if inv.vault_password_file:
            env.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(inv.vault_password_file))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs", "--tb=short",
             f"--junitxml={junit}", "--rootdir", str(CHECKS_DIR),
             *[str(CHECKS_DIR / f"{m}.py") for m in modules]],
            env=env, capture_output=True, text=True)
        table = summarize(junit, list(inv.hosts)) if junit.exists() else {}
    if proc.returncode not in (0, 5):
        echo(proc.stdout[-6000:])
    return proc.returncode, table


def summarize(junit: Path, hosts: list[str]) -> dict[tuple[str, str], Counter]:
    """Outcomes per (host, service); the host is the test id's leading inventory host name."""
    by_length = sorted(hosts, key=len, reverse=True)
    table: dict[tuple[str, str], Counter] = {}
    for case in ET.parse(junit).iter("testcase"):  # noqa: S314 - our own pytest output
        service = case.get("classname", "").rsplit(".", 1)[-1]
        name = case.get("name", "")
        params = name[name.find("[") + 1:].rstrip("]") if "[" in name else ""
        host = next((h for h in by_length if params == h or params.startswith(h + "-")), "-")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        table.setdefault((host, service), Counter())[outcome] += 1
    return table


@click.command("verify")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Inventory (default: the local sandbox).")
@click.option("--service", "services", multiple=True,
              help="Only this service of the registry, e.g. conferencing (repeatable).")
def command(inventory, services):
    """Check the deployed services from outside, as their clients would.

    The same checks the molecule scenarios run: TURN allocations and relay,
    OIDC logins through Keycloak, LiveKit media between two SDK clients,
    Collabora's discovery, two users meeting in the meeting app in headless
    Chromium (skipped, with the reason, without chromium or certutil), and,
    from a host of group `scanner`, nmap, testssl.sh and SSH password refusal
    against every host.

    \b
    Example:
      sovctl verify -i inventories/prod --service coturn
    """
    inventory = inventory or default_inventory()
    rc, table = run_checks(inventory, list(services))
    if table:
        click.echo(f"{'HOST':<20} {'SERVICE':<12} {'PASSED':>6} {'FAILED':>6} {'SKIPPED':>7}")
        for (host, service), c in sorted(table.items()):
            click.echo(f"{host:<20} {service:<12} {c['passed']:>6} {c['failed']:>6} "
                       f"{c['skipped']:>7}  {verdict(c)}")
    raise SystemExit(exit_code(rc, table))


def verdict(counts: Counter) -> str:
    """FAIL when a check failed; NOTHING CHECKED when every check was skipped."""
    if counts["failed"]:
        return "FAIL"
    return "PASS" if counts["passed"] else "NOTHING CHECKED"


def exit_code(rc: int, table: dict[tuple[str, str], Counter]) -> int:
    """0 when checks ran and none failed. pytest's 5 (no test collected) and a run in which
    every check was skipped prove nothing: 1, as a failure."""
    if rc != 0 or any(c["failed"] for c in table.values()):
        return 1
    return 0 if not table or any(c["passed"] for c in table.values()) else 1
