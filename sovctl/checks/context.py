"""What the checks need to know about the deployment under test."""

from __future__ import annotations

import ipaddress
import os
import re
from functools import cache

import pytest

from sovctl.inventory import Host, load_inventory


def inventory_path() -> str:
    path = os.environ.get("SOVCTL_VERIFY_INVENTORY") or os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path:
        pytest.skip("no inventory: run through `sovctl verify` or molecule")
    return path


@cache
def _inventory():
    return load_inventory(inventory_path())


def hosts(group: str) -> list[Host]:
    return _inventory().hosts_in(group)


def resolve(host: Host, name: str, default=None):
    """A variable of ``host``, following plain ``{{ other_var }}`` indirections."""
    value = host.vars.get(name, default)
    for _ in range(5):
        m = re.fullmatch(r"\{\{\s*(\w+)(\s*\|\s*default\([^)]*\))?\s*\}\}", str(value or ""))
        if not m:
            break
        value = host.vars.get(m.group(1), default)
    return value


def testinfra_host(name: str):
    import testinfra

    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory_path()}")


def address_of(name: str) -> str:
    """The address clients use: ansible_host when it is an address, else the host's own."""
    host = _inventory().hosts.get(name)
    candidate = host.vars.get("ansible_host") if host else None
    try:
        if candidate:
            ipaddress.ip_address(candidate)
            return candidate
    except ValueError:
        pass
    out = testinfra_host(name).check_output("hostname -I")
    return out.split()[0]


def is_private(address: str) -> bool:
    return ipaddress.ip_address(address).is_private
