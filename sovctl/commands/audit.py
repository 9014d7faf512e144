"""``sovctl audit``: the data-residency audit (contract: docs/architecture.md).

Exit status: 0 compliant, 1 at least one violation, 2 bad input (InputError with
exit code 2, printed by sovctl.cli.main with the file and the field).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from pathlib import Path

import click

from sovctl import paths
from sovctl.audit.reports import FORMATS, json_report, render
from sovctl.audit.service import AuditRequest, run_audit
from sovctl.errors import EXIT_AUDIT_BAD_INPUT, InputError, UnavailableError


def _content_dirs() -> tuple[Path, Path | None]:
    """policies/ and roles/ of the sovctl content; the package's checkout if not installed."""
    try:
        root = paths.project_root()
    except UnavailableError:
        root = Path(__file__).resolve().parents[2]
    roles = root / "roles"
    return root / "policies", roles if roles.is_dir() else None


def _default_inventory() -> Path:
    try:
        return paths.default_inventory()
    except UnavailableError as exc:
        raise InputError("no inventory given and the sandbox inventory was not found",
                         field="--inventory", hint="pass -i INVENTORY",
                         exit_code=EXIT_AUDIT_BAD_INPUT) from exc


def refuse_overwriting_inputs(output: Path, inventory: Path, inputs: list[Path]) -> None:
    """A report never replaces the inventory, a file in it, or another input."""
    target = output.resolve()
    inv = inventory.resolve()
    base = inv if inv.is_dir() else inv.parent
    protected = [inv, *(p.resolve() for p in inputs if p is not None)]
    inside = [base / "group_vars", base / "host_vars"] + ([inv] if inv.is_dir() else [])
    if target in protected or any(target.is_relative_to(d) for d in inside):
        raise InputError("refusing to write the report over the inventory or an input file",
                         file=str(output), field="--output", exit_code=EXIT_AUDIT_BAD_INPUT,
                         hint="write the report outside the inventory directory")


def write_output(text: str | Iterable[str], output: Path | None) -> None:
    """Writes the report (its text, or its text in pieces as they are made)."""
    pieces = [text] if isinstance(text, str) else text
    if output is None:
        for piece in pieces:
            click.echo(piece, nl=False)
        return
    try:
        with output.open("w", encoding="utf-8") as out:
            for piece in pieces:
                out.write(piece)
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.strerror}", file=str(output),
                         field="--output", exit_code=EXIT_AUDIT_BAD_INPUT) from exc


@click.command("audit")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Inventory directory or file (default: the sandbox).")
@click.option("--policy", metavar="NAME|FILE",
              help="eu-residency, eu-sovereign, secnumcloud, or a policy file "
                   "(default: the inventory's sov_policy, else eu-residency).")
@click.option("--live", is_flag=True,
              help="Also connect to the hosts and compare what they really use.")
@click.option("--geoip", type=click.Path(path_type=Path),
              help="Offline GeoIP database: a CSV of cidr,country,asn lines.")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="table",
              show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report to this file instead of standard output.")
@click.pass_context
def command(ctx: click.Context, inventory: Path | None, policy: str | None, live: bool,
            geoip: Path | None, fmt: str, output: Path | None) -> None:
    """Audit where every host and every external endpoint is, against a policy.

    \b
    Exit status: 0 compliant, 1 at least one violation, 2 bad input.
    Examples:
      sovctl audit -i inventories/prod --policy eu-sovereign
      sovctl audit -i inventories/prod --format html -o residency.html
      sovctl audit -i inventories/prod --live --geoip geo.csv --format sarif -o audit.sarif
    """
    policies_dir, roles_dir = _content_dirs()
    inventory = inventory or _default_inventory()
    if output is not None:
        from sovctl.inventory import vault_password_file

        policy_file = Path(policy) if policy and Path(policy).is_file() else None
        refuse_overwriting_inputs(output, inventory, [
            p for p in (policy_file, geoip, vault_password_file(inventory)) if p is not None])
    # The audit builds a large graph of objects that live until it ends (10,000 hosts'
    # variables) and makes almost no cycles: the cyclic collector, re-traversing that
    # graph as it grows, took a fifth of the CPU time of the 10,000-host bench (+14 MB).
    collecting = gc.isenabled()
    gc.disable()
    try:
        report = run_audit(AuditRequest(
            inventory=inventory, policy=policy,
            policies_dir=policies_dir, roles_dir=roles_dir, live=live, geoip=geoip))
        write_output(json_report.chunks(report) if fmt == "json" else render(report, fmt),
                     output)
    finally:
        if collecting:
            gc.enable()
    if output is not None:
        click.echo(f"{report['summary']['violations']} violations, "
                   f"{report['summary']['warnings']} warnings: report written to {output}",
                   err=True)
    ctx.exit(1 if report["summary"]["violations"] else 0)
