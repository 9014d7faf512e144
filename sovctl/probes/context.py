"""What the checks need to know about the deployment under test."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tempfile
from functools import cache

from sovctl.inventory import Host, load_inventory
from sovctl.probes import Skipped

# The internal CA the roles install on every host (tls_mode internal).
CA_PATH = "/etc/ssl/sovctl/ca.crt"


def _named_inventory() -> str | None:
    return os.environ.get("SOVCTL_VERIFY_INVENTORY") or os.environ.get("MOLECULE_INVENTORY_FILE")


def has_inventory() -> bool:
    """Whether an inventory is named: without one, the checks are collected over no host."""
    return bool(_named_inventory())


def inventory_path() -> str:
    path = _named_inventory()
    if not path:
        raise Skipped("no inventory: run through `sovctl verify` or molecule")
    return path


@cache
def inventory():
    return load_inventory(inventory_path())


def hosts(group: str) -> list[Host]:
    return inventory().hosts_in(group)


def host_names(group: str) -> list[str]:
    """The names of the hosts of ``group``, what the checks parametrize over; none without
    an inventory, so that collecting the checks needs no hosts."""
    return [h.name for h in hosts(group)] if has_inventory() else []


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
    host = inventory().hosts.get(name)
    candidate = host.vars.get("ansible_host") if host else None
    try:
        if candidate:
            ipaddress.ip_address(candidate)
            return candidate
    except ValueError:
        pass
    out = testinfra_host(name).check_output("hostname -I")
    return out.split()[0]


# Each command on a test host is a round trip through Ansible: ask once, remember.
cached_address_of = cache(address_of)


def reset() -> None:
    """Forget what was read of the inventory: a run of probes over another one begins."""
    inventory.cache_clear()
    cached_address_of.cache_clear()


def is_private(address: str) -> bool:
    return ipaddress.ip_address(address).is_private


def internal_ca(host) -> str | None:
    """The deployment's internal CA on ``host`` (a testinfra host) as PEM text; None when
    the host has none (tls_mode external: its certificates chain to a public CA)."""
    ca = host.run(f"cat {CA_PATH}")
    return ca.stdout if ca.rc == 0 and "BEGIN CERTIFICATE" in ca.stdout else None


@contextlib.contextmanager
def ca_bundle(pem: str | None):
    """What `requests` takes as ``verify``: a file holding ``pem`` for the block, else True
    (the system's roots)."""
    if not pem:
        yield True
        return
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as fh:
        fh.write(pem)
    try:
        yield fh.name
    finally:
        os.unlink(fh.name)
