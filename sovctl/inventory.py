"""Read an Ansible inventory exactly as Ansible would (group_vars, host_vars, vault).

This is the one place sovctl loads inventories; deploy's pre-flight validation,
the residency audit and the CLI's other commands all go through it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sovctl.errors import InputError

# Variables Ansible adds to every host; never inventory data (and `groups` alone
# would make loading quadratic in the number of hosts).
MAGIC_VARS = frozenset({"groups", "group_names", "inventory_hostname", "inventory_hostname_short",
                        "inventory_dir", "inventory_file", "omit", "playbook_dir", "role_names"})

VAULT_PASS_FILENAME = ".vault-pass"  # noqa: S105 - a file name, not a password


@dataclass
class Host:
    name: str
    groups: list[str]
    vars: dict[str, Any] = field(repr=False)


@dataclass
class Inventory:
    path: Path
    hosts: dict[str, Host]
    vault_password_file: Path | None

    def hosts_in(self, group: str) -> list[Host]:
        return [h for h in self.hosts.values() if group in h.groups]

    @property
    def groups(self) -> set[str]:
        return {g for h in self.hosts.values() for g in h.groups}


def vault_password_file(inventory: Path) -> Path | None:
    """The vault password file: $SOVCTL_VAULT_PASSWORD_FILE, else <inventory>/.vault-pass."""
    env = os.environ.get("SOVCTL_VAULT_PASSWORD_FILE") or os.environ.get(
        "ANSIBLE_VAULT_PASSWORD_FILE")
    if env:
        return Path(env)
    base = inventory if inventory.is_dir() else inventory.parent
    cand = base / VAULT_PASS_FILENAME
    return cand if cand.is_file() else None


def _plain(value: Any) -> Any:
    """Strip Ansible's data tags and decrypt vaulted values into plain Python types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return str(value)  # EncryptedString and tagged strings decrypt/untag on str()
    return value


def load_inventory(path: str | os.PathLike, *, decrypt: bool = True) -> Inventory:
    """Load ``path`` (a directory or a file) and return every host with its merged vars.

    Raises InputError naming the file when it cannot be read or parsed.
    """
    inv_path = Path(path)
    if not inv_path.exists():
        raise InputError("inventory not found", file=str(inv_path),
                         hint="pass -i with an inventory directory, or run `sovctl init DIR`")
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultSecret
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    vpf = vault_password_file(inv_path)
    if decrypt and vpf is not None:
        try:
            secret = vpf.read_bytes().strip()
        except OSError as exc:
            raise InputError(f"cannot read the vault password file: {exc.strerror}",
                             file=str(vpf)) from exc
        loader.set_vault_secrets([("default", VaultSecret(secret))])
    try:
        manager = inventory_manager(loader, str(inv_path))
        if not manager.list_hosts("all") and not _has_sources(inv_path):
            raise InputError("no hosts found in the inventory", file=str(inv_path),
                             hint="add hosts to hosts.yml, or run `sovctl init DIR`")
        variables = VariableManager(loader=loader, inventory=manager)
        hosts: dict[str, Host] = {}
        for host in manager.get_hosts():
            raw = variables.get_vars(host=host, include_hostvars=False)
            hv = {k: v for k, v in raw.items() if k not in MAGIC_VARS and (
                not k.startswith("ansible_") or k in (
                    "ansible_host", "ansible_port", "ansible_user", "ansible_connection"))}
            hosts[host.name] = Host(
                name=host.name,
                groups=sorted(g.name for g in host.get_groups() if g.name != "all"),
                vars=_plain(hv) if decrypt else hv,
            )
    except AnsibleError as exc:
        msg = str(getattr(exc, "message", exc)).strip().splitlines()[0]
        hint = None
        if "vault" in msg.lower() or "decrypt" in msg.lower():
            hint = (f"put the vault password in {inv_path / VAULT_PASS_FILENAME} "
                    "or set SOVCTL_VAULT_PASSWORD_FILE")
        raise InputError(msg, file=str(inv_path), hint=hint) from exc
    return Inventory(path=inv_path, hosts=hosts, vault_password_file=vpf)


def _has_sources(path: Path) -> bool:
    if path.is_file():
        return True
    return any(p.name not in ("group_vars", "host_vars") for p in path.iterdir()
               if not p.name.startswith("."))


def inventory_manager(loader, source: str):
    """Ansible's InventoryManager for ``source``, trying the ``auto`` plugin last.

    Ansible tries ``auto`` before ``yaml``: on a plain YAML inventory it loads the whole
    file only to find no ``plugin:`` key, then ``yaml`` loads (deep-copies) it again,
    which dominates on large inventories. ``yaml`` refuses plugin configuration files
    itself, so trying it first changes no result, only the time.
    """
    from ansible import constants as C
    from ansible.inventory.manager import InventoryManager

    enabled = list(C.INVENTORY_ENABLED)
    C.INVENTORY_ENABLED = [n for n in enabled if n != "auto"] + (
        ["auto"] if "auto" in enabled else [])
    try:
        return InventoryManager(loader=loader, sources=[source])
    finally:
        C.INVENTORY_ENABLED = enabled
