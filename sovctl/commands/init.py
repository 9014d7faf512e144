"""``sovctl init``: scaffold an inventory and its vault."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sovctl.scaffold import SERVICE_GROUPS, HostSpec, parse_host, scaffold


def _ask_hosts() -> list[HostSpec]:
    hosts = []
    for group in SERVICE_GROUPS:
        name = click.prompt(f"Host name for '{group}' (empty: none)", default="",
                            show_default=False)
        if not name:
            continue
        hosts.append(HostSpec(name, [group], click.prompt("  address"),
                              click.prompt("  provider (e.g. ovhcloud, scaleway, on-premises)"),
                              click.prompt("  region (e.g. gra, fr-par)"),
                              click.prompt("  country (ISO code; empty: from the region)",
                                           default="", show_default=False) or None))
    return hosts


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--domain", help="The site's domain, e.g. collab.example.eu.")
@click.option("--host", "hosts", multiple=True,
              help="NAME:GROUP[+GROUP]:ADDRESS:PROVIDER:REGION[:COUNTRY] (repeatable).")
@click.option("--policy", default="eu-sovereign", show_default=True,
              help="Residency policy the audit applies.")
def command(directory, domain, hosts, policy):
    """Write a new inventory with generated secrets in an ansible-vault file.

    Without --host it asks for each service's host. Providers and regions are
    checked against the provider catalogue; a host's country comes from its region.

    \b
    Example:
      sovctl init inventories/prod --domain collab.example.eu \\
        --host edge1:edge+identity:198.51.100.7:scaleway:fr-par \\
        --host turn1:turn:203.0.113.10:ovhcloud:gra
    """
    interactive = sys.stdin.isatty()
    if not domain:
        domain = click.prompt("Domain (e.g. collab.example.eu)") if interactive else None
    specs = [parse_host(h) for h in hosts] or (_ask_hosts() if interactive else [])
    result = scaffold(directory, domain or "", specs, policy)
    click.echo(f"Wrote {directory}/hosts.yml and {directory}/group_vars/all/main.yml")
    click.echo(f"Generated {len(result.added)} secrets into {result.vault_file} (ansible-vault).")
    click.echo(f"The vault password is in {result.password_file} (mode 0600): back it up "
               "somewhere safe and never commit it.")
    click.echo(f"Next: sovctl check -i {directory}")
