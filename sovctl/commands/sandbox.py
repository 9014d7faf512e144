"""``sovctl sandbox``: the local test hosts that ``sovctl deploy`` uses by default."""

from __future__ import annotations

from pathlib import Path

import click

from sovctl import sandbox
from sovctl.paths import default_inventory
from sovctl.probes.turnclient import rest_credentials


@click.group("sandbox")
def command() -> None:
    """Local systemd test hosts (podman) from inventories/sandbox.

    \b
    Example:
      sovctl sandbox up && sovctl deploy && sovctl sandbox status
    """


@command.command("up")
def up_cmd() -> None:
    """Create and start the sandbox hosts (ports published on 127.0.0.1 only).

    \b
    Example:
      sovctl sandbox up
    """
    for host in sandbox.up(log=click.echo):
        click.echo(f"{host.name:<16} {host.state:<8} {host.address}")
    click.echo("Next: `sovctl deploy` converges them.")


@command.command("down")
def down_cmd() -> None:
    """Remove the sandbox hosts (the inventory and its vault are kept).

    \b
    Example:
      sovctl sandbox down
    """
    sandbox.down(log=click.echo)


@command.command("status")
def status_cmd() -> None:
    """Show each sandbox host, its state, and the URLs of its services.

    \b
    Example:
      sovctl sandbox status
    """
    from sovctl.inventory import load_inventory

    inventory = Path(default_inventory())
    inv = load_inventory(inventory)
    running = False
    found = sandbox.hosts()
    for host in found:
        if "meet" in host.groups:
            click.echo(f"Meeting app: https://{host.vars.get('meet_hostname', host.address)}")
    for host in found:
        sandbox.inspect(host)
        running |= host.state == "running"
        click.echo(f"{host.name:<16} {host.state:<8} {host.address}")
        for url in sandbox.urls(host):
            click.echo(f"    {url}")
        secret = inv.hosts[host.name].vars.get("vault_coturn_static_auth_secret")
        if "turn" in host.groups and secret and host.state == "running":
            user, password = rest_credentials(secret, user="sandbox-user", ttl=86400)
            click.echo(f"    TURN test credentials (valid 24 h): username={user} "
                       f"password={password}")
    users = [u.get("username") for h in inv.hosts_in("identity")
             for u in (h.vars.get("keycloak_users") or []) if isinstance(u, dict)]
    password = next((h.vars.get("vault_sandbox_user_password") for h in inv.hosts.values()
                     if h.vars.get("vault_sandbox_user_password")), None)
    if running and users and password:
        click.echo(f"Test users: {', '.join(users)} (password: {password})")
    ca = inventory / ".sovctl-ca" / "ca.crt"
    if ca.is_file():
        click.echo(f"Internal CA (import it in your browser to trust the sandbox): {ca}")
    click.echo(f"Inventory: {inventory}")
