"""``sovctl secrets``: generate and inspect the vault of an inventory."""

from __future__ import annotations

from pathlib import Path

import click

from sovctl import secrets


@click.group("secrets")
def command() -> None:
    """Manage the generated secrets of an inventory (ansible-vault).

    \b
    Example:
      sovctl secrets ensure -i inventories/prod
    """


@command.command("ensure")
@click.option("-i", "--inventory", "inventory", type=click.Path(path_type=Path),
              required=True, help="Inventory directory.")
def ensure_cmd(inventory: Path) -> None:
    """Create missing secrets; never change existing ones.

    \b
    Example:
      sovctl secrets ensure -i inventories/prod
    """
    result = secrets.ensure(inventory)
    if result.created_password:
        click.echo(f"Created the vault password file {result.password_file} (mode 0600): "
                   "back it up, never commit it.")
    if result.added:
        click.echo(f"Added {len(result.added)} secret(s) to {result.vault_file}: "
                   + ", ".join(result.added))
    else:
        click.echo(f"All secrets present in {result.vault_file}.")
