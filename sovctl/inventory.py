"""Read an Ansible inventory exactly as Ansible would (group_vars, host_vars, vault).

This is the one place sovctl loads inventories; deploy's pre-flight validation,
the residency audit and the CLI's other commands all go through it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sovctl.errors import EXIT_BAD_INPUT, InputError
from sovctl.untrusted_yaml import (  # noqa: F401  (read_yaml_file: part of this API)
    read_limited,
    read_yaml_file,
    shown,
)

# Variables Ansible adds to every host; never inventory data (and `groups` alone
# would make loading quadratic in the number of hosts).
MAGIC_VARS = frozenset({"groups", "group_names", "inventory_hostname", "inventory_hostname_short",
                        "inventory_dir", "inventory_file", "omit", "playbook_dir", "role_names"})

VAULT_PASS_FILENAME = ".vault-pass"  # noqa: S105 - a file name, not a password
STATIC_PLUGINS = ("yaml", "ini")


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


# ---------------------------------------------------------------------------
# The strict pre-parse: every inventory file, read as untrusted data, before
# Ansible sees it. Limits keep a hostile inventory from taking the machine (each file's
# size and YAML parse: sovctl/untrusted_yaml.py).
# ---------------------------------------------------------------------------

MAX_FILES = 2000  # files in an inventory directory

# A host name: a DNS name, an IPv4 or IPv6 address, or an Ansible range pattern
# (web[01:10].example.org). Never a path (/, ..), whitespace, control characters,
# Jinja, or a leading = + - @ (a spreadsheet formula).
HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\[\]-]{0,252}")
GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
YAML_EXTS = (".yml", ".yaml", ".json")
GROUP_KEYS = frozenset({"hosts", "vars", "children"})
VAULT_HEADER = b"$ANSIBLE_VAULT"


def bad_name(name: Any, pattern: re.Pattern = HOST_NAME) -> bool:
    return not (isinstance(name, str) and pattern.fullmatch(name) and ".." not in name)


def _inventory_files(inv_path: Path, exit_code: int) -> tuple[Path, list[Path]]:
    """(base directory, every non-hidden file), refusing special files and escaping links."""
    if inv_path.is_file() or not inv_path.is_dir():
        base = inv_path.parent
        files = [inv_path]
        for sub in ("group_vars", "host_vars"):
            if (base / sub).is_dir():
                files += _walk(base, base / sub, exit_code)
        return base, files
    return inv_path, _walk(inv_path, inv_path, exit_code)


def _walk(base: Path, top: Path, exit_code: int) -> list[Path]:
    real_base = base.resolve()
    found = []
    for root, dirs, names in os.walk(top, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for d in dirs:
            if (Path(root) / d).is_symlink():
                raise InputError("a symbolic link to a directory", file=str(Path(root) / d),
                                 exit_code=exit_code, hint="copy the files into the inventory")
        for name in sorted(names):
            if name.startswith("."):
                continue
            p = Path(root) / name
            if p.is_symlink():
                target = p.resolve()
                if not target.is_relative_to(real_base):
                    raise InputError("a symbolic link to a file outside the inventory",
                                     file=str(p), exit_code=exit_code,
                                     hint="copy the file into the inventory")
            found.append(p)
            if len(found) > MAX_FILES:
                raise InputError(f"more than {MAX_FILES} files", file=str(base),
                                 exit_code=exit_code, hint="this is not an inventory directory")
    return found


def _var_file_owner(base: Path, path: Path) -> tuple[str, str] | None:
    """("group"|"host", name) for a file under group_vars/ or host_vars/, else None."""
    try:
        rel = path.relative_to(base).parts
    except ValueError:
        return None
    if len(rel) >= 2 and rel[0] in ("group_vars", "host_vars"):
        name = rel[1]
        if len(rel) == 2:
            for ext in YAML_EXTS:
                if name.endswith(ext):
                    name = name[: -len(ext)]
        return ("group" if rel[0] == "group_vars" else "host"), name
    return None


def preflight(path: str | os.PathLike, exit_code: int = EXIT_BAD_INPUT,
              vault_secret: bytes | None = None, vault: bool = True,
              parsed: dict[str, tuple[bytes, Any]] | None = None) -> None:
    """Read every file of an inventory strictly, before Ansible does; raise InputError.

    Sizes, nesting, aliases, duplicate keys, tabs, structure, host, group and variable
    names, and (given the password) every vault value: each problem names the file.
    ``parsed``: filled with each YAML hosts file's real path, bytes and data as read.
    """
    inv_path = Path(path)
    if not inv_path.exists() and not inv_path.is_symlink():
        raise InputError("inventory not found", file=str(inv_path), exit_code=exit_code,
                         hint="pass -i with an inventory directory, or run `sovctl init DIR`")
    if not inv_path.is_dir():
        read_limited(inv_path, exit_code)  # refuses /dev/zero, FIFOs, huge files
    from ansible import constants as C

    base, files = _inventory_files(inv_path, exit_code)
    ignored = tuple(C.INVENTORY_IGNORE_EXTS)
    sources = 0
    for f in files:
        owner = _var_file_owner(base, f)
        if owner is not None:
            kind, name = owner
            if bad_name(name, GROUP_NAME if kind == "group" else HOST_NAME):
                raise InputError(f"{shown(name)} is not a valid {kind} name", file=str(f),
                                 exit_code=exit_code,
                                 hint=f"name the file after a {kind} of hosts.yml")
            if f.suffix not in ("", *YAML_EXTS):
                continue
            data = _read_var_file(f, exit_code, vault_secret, vault)
            _check_vars(data, f, exit_code, "")
            continue
        if f.name.endswith(ignored):
            continue
        sources += 1
        if f.suffix in YAML_EXTS:
            raw = read_limited(f, exit_code)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None  # read_yaml_file reads it again, and says so
            data = read_yaml_file(f, exit_code, text=text)
            _check_hosts_file(data, f, exit_code)
            if parsed is not None and text is not None:
                parsed[os.path.realpath(f)] = (raw, data)
        else:
            raw = read_limited(f, exit_code)
            if raw.lstrip().startswith(b"#!"):
                raise InputError("an executable inventory script: sovctl reads data only",
                                 file=str(f), exit_code=exit_code,
                                 hint="write the hosts as hosts.yml")
    if sources == 0:
        raise InputError("no hosts file in the inventory", file=str(inv_path),
                         exit_code=exit_code,
                         hint="add hosts.yml, or run `sovctl init DIR`")


def _read_var_file(f: Path, exit_code: int, vault_secret: bytes | None,
                   vault: bool = True) -> Any:
    raw = read_limited(f, exit_code)
    vault_values: list[tuple[str, int]] = []
    if raw.lstrip().startswith(VAULT_HEADER):
        if not vault:
            return None
        raw = _decrypt(raw, f, None, exit_code, vault_secret)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=str(f), exit_code=exit_code,
                         hint="save the file as UTF-8") from None
    data = read_yaml_file(f, exit_code, text=text, vault_values=vault_values)
    for value, line in vault_values if vault else ():
        _decrypt(value.encode(), f, line, exit_code, vault_secret)
    return data


def _decrypt(data: bytes, f: Path, line: int | None, exit_code: int,
             vault_secret: bytes | None) -> bytes:
    where = f"line {line}" if line else None
    hint = (f"put the vault password in {VAULT_PASS_FILENAME} next to hosts.yml "
            "or set SOVCTL_VAULT_PASSWORD_FILE")
    if vault_secret is None:
        raise InputError("encrypted with ansible-vault, and no vault password was found",
                         file=str(f), field=where, hint=hint, exit_code=exit_code)
    from ansible.errors import AnsibleError
    from ansible.parsing.vault import VaultLib, VaultSecret

    try:
        return VaultLib([("default", VaultSecret(vault_secret))]).decrypt(data)
    except (AnsibleError, ValueError, TypeError) as exc:
        text = str(getattr(exc, "message", exc)).strip().splitlines()
        detail = text[0] if text else type(exc).__name__
        raise InputError(f"cannot decrypt this vault value ({detail})", file=str(f),
                         field=where, exit_code=exit_code,
                         hint="the value is damaged or was encrypted with another password: "
                              "restore it, or " + hint[0].lower() + hint[1:]) from None


def _check_vars(data: Any, f: Path, exit_code: int, where: str) -> None:
    if data is None:
        return
    if not isinstance(data, dict):
        raise InputError(f"must be a mapping of variable names to values, not a "
                         f"{type(data).__name__}", file=str(f), field=where or None,
                         exit_code=exit_code, hint="write `name: value` lines")
    for key in data:
        if bad_name(key, VAR_NAME):
            raise InputError(f"{shown(key)} is not a valid variable name", file=str(f),
                             field=where or None, exit_code=exit_code,
                             hint="letters, digits and _ only, not starting with a digit")


def _check_hosts_file(data: Any, f: Path, exit_code: int) -> None:
    def fail(message: str, field: str | None = None, hint: str | None = None):
        return InputError(message, file=str(f), field=field, exit_code=exit_code,
                          hint=hint or "see inventories/example/hosts.yml for the layout")

    if data is None:
        raise fail("the file is empty")
    if not isinstance(data, dict):
        raise fail(f"must be a mapping of groups (all: children: ...), not a "
                   f"{type(data).__name__}")
    if "plugin" in data:
        raise fail("an inventory plugin configuration: sovctl reads static inventories only",
                   "plugin", "write the hosts as a static hosts.yml")

    def group(name: Any, entry: Any, where: str) -> None:
        if bad_name(name, GROUP_NAME):
            raise fail(f"{shown(name)} is not a valid group name", where,
                       "letters, digits, _ and - only, starting with a letter or _")
        if entry is None:
            return
        if not isinstance(entry, dict):
            raise fail(f"group {name} must be a mapping with hosts, vars or children, "
                       f"not {shown(entry, 30)}", where)
        for key in entry:
            if key not in GROUP_KEYS:
                raise fail(f"unexpected key {shown(key)} in group {name}", f"{where}.{key}",
                           "a group has hosts, vars and children only")
        hosts = entry.get("hosts")
        if hosts is not None:
            if not isinstance(hosts, dict):
                raise fail("hosts must be a mapping of host names", f"{where}.hosts",
                           "write `hosts:` then one `name:` line per host")
            for host, hvars in hosts.items():
                if bad_name(host):
                    raise fail(f"{shown(host)} is not a valid host name",
                               f"{where}.hosts",
                               "a DNS name or an address: letters, digits, . - _ and : "
                               "only, no /, .., spaces or templates")
                _check_vars(hvars, f, exit_code, f"{where}.hosts.{host}")
        _check_vars(entry.get("vars"), f, exit_code, f"{where}.vars")
        children = entry.get("children")
        if children is not None:
            if not isinstance(children, dict):
                raise fail("children must be a mapping of group names", f"{where}.children")
            for child, centry in children.items():
                group(child, centry, f"{where}.children.{child}")

    for name, entry in data.items():
        group(name, entry, str(name))


def read_vault_secret(inv_path: Path, exit_code: int = EXIT_BAD_INPUT) -> bytes | None:
    vpf = vault_password_file(inv_path)
    if vpf is None:
        return None
    try:
        return read_limited(vpf, exit_code).strip()
    except InputError as exc:
        raise InputError(f"cannot read the vault password file: {exc.message}",
                         file=str(vpf), exit_code=exit_code) from None


def check_loaded_names(manager, inv_path: Path, exit_code: int) -> None:
    """Names after Ansible expanded ranges and read INI sources."""
    for host in manager.hosts.values() if isinstance(manager.hosts, dict) else manager.hosts:
        name = getattr(host, "name", host)
        if bad_name(name):
            raise InputError(f"{shown(name)} is not a valid host name", file=str(inv_path),
                             exit_code=exit_code,
                             hint="a DNS name or an address: no /, .., spaces or templates")
    for name in manager.groups:
        if bad_name(name, GROUP_NAME):
            raise InputError(f"{shown(name)} is not a valid group name", file=str(inv_path),
                             exit_code=exit_code, hint="letters, digits, _ and - only")


def _decrypted(value: Any) -> Any:
    # EncryptedString and tagged strings decrypt/untag on str()
    return str(value) if isinstance(value, str) else value


def plain_data(value: Any, leaf: Callable[[Any], Any] = _decrypted) -> Any:
    """Ansible-loaded data as plain Python: dicts, lists, numbers, booleans and None kept,
    every other value through ``leaf`` (by default: Ansible's tagged and vaulted strings
    untagged and decrypted)."""
    if isinstance(value, dict):
        return {str(k): plain_data(v, leaf) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v, leaf) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return leaf(value)


def load_inventory(path: str | os.PathLike, *, decrypt: bool = True,
                   exit_code: int = EXIT_BAD_INPUT) -> Inventory:
    """Load ``path`` (a directory or a file) and return every host with its merged vars.

    Every file is first read strictly (``preflight``); raises InputError naming the file
    when it cannot be read or parsed.
    """
    inv_path = Path(path)
    if not inv_path.exists():
        raise InputError("inventory not found", file=str(inv_path), exit_code=exit_code,
                         hint="pass -i with an inventory directory, or run `sovctl init DIR`")
    secret = read_vault_secret(inv_path, exit_code) if decrypt else None
    preflight(inv_path, exit_code, secret, vault=decrypt)
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultSecret
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    vpf = vault_password_file(inv_path)
    if secret is not None:
        loader.set_vault_secrets([("default", VaultSecret(secret))])
    try:
        manager = inventory_manager(loader, str(inv_path))
        check_loaded_names(manager, inv_path, exit_code)
        if not manager.list_hosts("all"):
            raise InputError("no hosts found in the inventory", file=str(inv_path),
                             exit_code=exit_code,
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
                vars=plain_data(hv) if decrypt else hv,
            )
    except AnsibleError as exc:
        raise ansible_input_error(exc, inv_path, exit_code) from None
    return Inventory(path=inv_path, hosts=hosts, vault_password_file=vpf)


def ansible_input_error(exc: Exception, inv_path: Path, exit_code: int) -> InputError:
    """An error Ansible raised on an inventory, as an InputError naming the file."""
    lines = str(getattr(exc, "message", exc)).strip().splitlines()
    msg = lines[0] if lines else type(exc).__name__
    obj = getattr(exc, "obj", None)
    origin = getattr(obj, "ansible_pos", None) or getattr(exc, "_origin", None)
    file = str(getattr(origin, "path", None) or (origin[0] if isinstance(origin, tuple)
                                                 else inv_path))
    hint = None
    if "vault" in msg.lower() or "decrypt" in msg.lower():
        hint = (f"put the vault password in {VAULT_PASS_FILENAME} next to hosts.yml "
                "or set SOVCTL_VAULT_PASSWORD_FILE")
    return InputError(msg, file=file, hint=hint, exit_code=exit_code)


def inventory_manager(loader, source: str):
    """Ansible's InventoryManager for ``source``, static plugins only.

    Only the static ``yaml`` and ``ini`` plugins: an inventory is data, and sovctl
    never runs an inventory script or a plugin configuration from it.
    """
    from ansible import constants as C
    from ansible.inventory.manager import InventoryManager

    saved = (C.INVENTORY_ENABLED, C.INVENTORY_UNPARSED_IS_FAILED,
             C.INVENTORY_ANY_UNPARSED_IS_FAILED)
    # Static data only: never `script` (runs executables), `auto` (plugin configs) or
    # `host_list`; and a source Ansible cannot parse is an error, not a warning.
    C.INVENTORY_ENABLED = [n for n in saved[0] if n in STATIC_PLUGINS] or list(STATIC_PLUGINS)
    C.INVENTORY_UNPARSED_IS_FAILED = True
    C.INVENTORY_ANY_UNPARSED_IS_FAILED = True
    try:
        return InventoryManager(loader=loader, sources=[source])
    finally:
        (C.INVENTORY_ENABLED, C.INVENTORY_UNPARSED_IS_FAILED,
         C.INVENTORY_ANY_UNPARSED_IS_FAILED) = saved
