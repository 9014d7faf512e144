"""Read an inventory for the audit: every host's variables, exactly as Ansible merges them.

sovctl.inventory.load_inventory copies every variable of every host, including the
magic ``groups`` map (all hosts of all groups), which makes it quadratic in the
number of hosts. The audit needs a few variables of each host, so this module:

- parses the inventory with Ansible's InventoryManager (the same parse as
  ``ansible-inventory --list``);
- merges variables with Ansible's own functions in Ansible's precedence order
  (C.VARIABLE_PRECEDENCE for the ``all`` group and the host's groups, then the
  host's inventory vars, then host_vars), computing the group part once per
  distinct set of groups instead of once per host;
- keeps values as Ansible loaded them (trusted for templating, vault values still
  encrypted) and converts to plain Python only the variables the audit reads.

Playbook-adjacent group_vars/host_vars (next to a playbook) are not read: the
audit reads the inventory. Facts are not read either (the static audit has none).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sovctl.audit.safe_template import Budget, Evaluator, LiveView
from sovctl.errors import EXIT_AUDIT_BAD_INPUT, InputError
from sovctl.inventory import (
    ansible_input_error,
    check_loaded_names,
    plain_data,
    preflight,
    read_vault_secret,
)

_MISSING_TEXT = "\x00undefined"  # stands for an undefined variable in memo keys


@dataclass
class HostVars:
    name: str
    groups: tuple[str, ...]  # the host's groups, without "all", sorted by name
    group_order: tuple[str, ...]  # the same, in the order Ansible merges their vars
    raw: dict[str, Any] = field(repr=False)  # Ansible's merged vars, values as loaded
    # The variables set for this host alone (inline in hosts.yml, host_vars/, Ansible's
    # magic per-host ones); every other one is its group_order's shared value. None: unknown.
    own: frozenset[str] | None = None


@dataclass
class InventoryView:
    path: Path
    hosts: list[HostVars]
    loader: Any = field(repr=False)  # ansible DataLoader (vault secrets, file cache)


def _bad(message: str, path: Path, field_: str | None = None,
         hint: str | None = None) -> InputError:
    return InputError(message, file=str(path), field=field_, hint=hint,
                      exit_code=EXIT_AUDIT_BAD_INPUT)


def load(path: str | os.PathLike) -> InventoryView:
    """Parse ``path`` and merge each host's variables; bad input exits 2 naming the file.

    Every file is first read strictly by sovctl.inventory.preflight (sizes, aliases,
    duplicate keys, names, structure), the same check ``sovctl check`` makes.
    """
    inv_path = Path(path)
    if not inv_path.exists():
        raise _bad("inventory not found", inv_path,
                   hint="pass -i with an inventory directory or file")
    secret = read_vault_secret(inv_path, EXIT_AUDIT_BAD_INPUT)
    sources: dict[str, tuple[bytes, Any]] = {}
    preflight(inv_path, EXIT_AUDIT_BAD_INPUT, secret, parsed=sources)
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultSecret

    from sovctl.inventory import inventory_manager

    loader = _fresh_loader(DataLoader, sources)()
    if secret is not None:
        loader.set_vault_secrets([("default", VaultSecret(secret))])
    try:
        manager = inventory_manager(loader, str(inv_path))
        check_loaded_names(manager, inv_path, EXIT_AUDIT_BAD_INPUT)
        hosts = manager.get_hosts()
        if not hosts:
            raise _bad("no hosts found in the inventory", inv_path,
                       hint="add hosts to hosts.yml")
        merged = _merge_all(loader, manager, hosts)
    except AnsibleError as exc:
        raise ansible_input_error(exc, inv_path, EXIT_AUDIT_BAD_INPUT) from None
    return InventoryView(inv_path, merged, loader)


def _fresh_loader(base: type, read: dict[str, tuple[bytes, Any]] | None = None) -> type:
    class FreshLoader(base):  # type: ignore[misc, valid-type]
        """Ansible's DataLoader, except for a file loaded uncached (cache='none': the
        inventory source itself, which nothing else holds):

        - it is not deep-copied (half the time of parsing a 10,000-host hosts.yml);
        - YAML without tags, vault or JSON (hosts.yml as people write it) is parsed by
          libyaml's safe loader, the same values as Ansible's loader (which adds its
          constructor's Origin and trust tags to every value, two thirds of the rest of
          the time): the audit evaluates inventory templates itself (safe_template) and
          never hands these values to Ansible's templating. Anything else (and any
          error, so that Ansible reports it) goes through Ansible's own loader;
        - ``read``: the data preflight read (the same safe loader), used when the file's
          bytes are still those it read.

        Cached loads (group_vars, host_vars) are as Ansible has them."""

        def load_from_file(self, file_name: str, cache: str = "all", unsafe: bool = False,
                           **kwargs: Any) -> Any:
            if cache == "none" and not kwargs.get("json_only"):
                data = _plain_yaml(self.path_dwim(file_name), read or {})
                if data is not _NOT_PLAIN:
                    return data
            return super().load_from_file(file_name, cache=cache,
                                          unsafe=unsafe or cache == "none", **kwargs)

    return FreshLoader


_NOT_PLAIN = object()


def _plain_yaml(path: str, read: dict[str, tuple[bytes, Any]]) -> Any:
    """A YAML file's data when it is plain YAML (no tag, no vault, not JSON), else _NOT_PLAIN."""
    import yaml

    try:
        raw = Path(path).read_bytes()
        if b"!" in raw or b"$ANSIBLE_VAULT" in raw:
            return _NOT_PLAIN
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return _NOT_PLAIN
    try:
        json.loads(text)  # Ansible reads JSON with its own decoder first
        return _NOT_PLAIN
    except ValueError:
        pass
    seen = read.pop(os.path.realpath(path), None)
    if seen is not None and seen[0] == raw:
        return seen[1]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return _NOT_PLAIN


def _merge_all(loader: Any, manager: Any, hosts: list) -> list[HostVars]:
    from ansible.inventory.helpers import sort_groups
    from ansible.utils.vars import combine_vars

    sources = manager._sources  # noqa: SLF001 - what VariableManager itself reads
    host_layer = _host_layer(loader, sources)
    group_layers: dict[tuple[str, ...], dict] = {}
    result = []
    for host in hosts:
        groups = sort_groups([g for g in host.get_groups() if g.name != "all"])
        key = tuple(g.name for g in groups)
        if key not in group_layers:
            group_layers[key] = _group_layer(loader, manager, sources, groups)
        inline, from_files = host.get_vars(), host_layer(host)
        data = combine_vars(combine_vars(group_layers[key], inline), from_files)
        result.append(HostVars(host.name, tuple(sorted(key)), key, data,
                               frozenset(inline) | frozenset(from_files)))
    return result


def _host_layer(loader: Any, sources: list) -> Any:
    """The vars plugins' variables of one host (host_vars/), as VariableManager reads them.

    When Ansible's own host_group_vars is the only vars plugin (the default), a host
    with no entry named after it in any source's host_vars/ gets nothing from it, so
    the plugin (four stat calls per host) runs only for the hosts that have one.
    """
    import bisect

    from ansible.plugins.loader import vars_loader
    from ansible.vars.plugins import get_vars_from_inventory_sources

    def plugin_vars(host: Any) -> dict:
        return get_vars_from_inventory_sources(loader, sources, [host], "all")

    if list(vars_loader._plugin_instance_cache) != ["ansible.builtin.host_group_vars"]:  # noqa: SLF001
        return plugin_vars
    entries: list[str] = []
    for source in sources:
        if source is None or ("," in source and not os.path.exists(source)):
            continue  # a host list, as get_vars_from_inventory_sources skips it
        base = source if os.path.isdir(source) else os.path.dirname(source)
        folder = os.path.join(os.path.realpath(base), "host_vars")
        if os.path.isdir(folder):
            entries += os.listdir(folder)
    entries.sort()

    def host_vars(host: Any) -> dict:
        # host_group_vars reads <name>, <name>.yml, .yaml, .json: entries starting with it
        at = bisect.bisect_left(entries, host.name)
        if at < len(entries) and entries[at].startswith(host.name):
            return plugin_vars(host)
        return {}

    return host_vars


def _group_layer(loader: Any, manager: Any, sources: list, groups: list) -> dict:
    """What VariableManager.get_vars merges before the host's own vars, in the same order."""
    from ansible import constants as C
    from ansible.inventory.helpers import get_group_vars
    from ansible.utils.vars import combine_vars
    from ansible.vars.plugins import get_vars_from_inventory_sources

    all_group = manager.groups["all"]
    layers = {
        "all_inventory": all_group.get_vars,
        "all_plugins_inventory": lambda: get_vars_from_inventory_sources(
            loader, sources, [all_group], "all"),
        "groups_inventory": lambda: get_group_vars(groups),
        "groups_plugins_inventory": lambda: get_vars_from_inventory_sources(
            loader, sources, groups, "all"),
    }
    data: dict = {}
    for entry in C.VARIABLE_PRECEDENCE:
        if entry in layers:  # *_plugins_play: playbook-adjacent vars, not the inventory's
            data = combine_vars(data, layers[entry]())
    return data


def plain(value: Any) -> Any:
    """Ansible-loaded data as plain Python: untagged strings, vault values decrypted."""
    return plain_data(value, str)


def has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_template(v) for v in value)
    return False


@lru_cache(maxsize=4096)
def _names_in(template: str) -> frozenset[str]:
    """The variable names a Jinja template reads (an unparsable one reads none)."""
    import jinja2
    from jinja2 import meta

    try:
        # parsed only, never rendered (rendering is Ansible's Templar): no escaping involved
        env = jinja2.Environment()  # noqa: S701
        return frozenset(meta.find_undeclared_variables(env.parse(template)))
    except jinja2.TemplateSyntaxError:
        return frozenset()


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def referenced_names(value: Any, context: dict[str, Any]) -> frozenset[str]:
    """Every variable a value's templates read, following templates in those variables."""
    seen: set[str] = set()
    todo = [value]
    while todo:
        current = todo.pop()
        for text in _strings(current):
            if "{{" not in text and "{%" not in text:
                continue
            for name in _names_in(str(text)) - seen:
                seen.add(name)
                todo.append(context.get(name))
    return frozenset(seen)


# Variables sovctl reads besides the sov_- and role-prefixed ones: how hosts are reached.
CONNECTION_VARS = frozenset({"ansible_host", "ansible_port", "ansible_user",
                             "ansible_connection"})


def read_variables(variables: dict[str, Any], prefixes: tuple[str, ...]) -> list[str]:
    """The variables whose templates sovctl or its roles evaluate: the sov_- and
    role-prefixed ones, the connection variables, and every variable their templates
    refer to, transitively. Others (another tool's own, such as molecule's) are never
    evaluated by sovctl, so their templates are not its to judge."""
    roots = [v for v in variables if v.startswith(prefixes) or v in CONNECTION_VARS]
    names = set(roots)
    for var in roots:
        names |= referenced_names(variables[var], variables)
    return [v for v in variables if v in names]


class Renderer:
    """Render values against a host's variables, as data (safe_template), memoised.

    Never Ansible's Templar: an inventory's templates are evaluated in a sandbox that
    knows variable references and the roles' filters, never lookups or commands.

    Two hosts whose referenced variables are equal get the same result, so a
    site-wide ``"{{ sov_stun_servers }}"`` is rendered once, not once per host.
    """

    def __init__(self, loader: Any):
        self._loader = loader
        self._cache: dict[tuple, Any] = {}
        self._budget = Budget()  # one time budget for all of one audit's templates

    def render(self, value: Any, context: dict[str, Any]) -> Any:
        if not has_template(value):
            return plain(value)
        names = referenced_names(value, context)
        key = (json.dumps(plain(value), sort_keys=True),
               json.dumps({n: plain(context.get(n, _MISSING_TEXT)) for n in sorted(names)},
                          sort_keys=True, default=str))
        if key not in self._cache:
            self._cache[key] = Evaluator(context, _plain_or_view,
                                         self._budget).render(plain(value))
        return self._cache[key]



def _plain_or_view(value: Any) -> Any:
    return value if isinstance(value, LiveView) else plain(value)


def trusted(value: Any) -> Any:
    """Mark strings of sovctl's own data (role defaults, registry defaults) as templates."""
    from ansible.template import trust_as_template

    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [trusted(v) for v in value]
    return value


def role_defaults(loader: Any, roles_dir: Path | None, role: str) -> dict[str, Any]:
    """A role's defaults/main.yml as Ansible loads it, or {} if the role does not exist."""
    if roles_dir is None:
        return {}
    path = roles_dir / role / "defaults" / "main.yml"
    if not path.is_file():
        return {}
    data = loader.load_from_file(str(path), cache="all")
    return trusted(data) if isinstance(data, dict) else {}


def inventory_files(path: Path) -> list[Path]:
    """The files that make up an inventory (hidden files such as .vault-pass excluded)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(path).parts))


def inventory_sha256(path: Path) -> tuple[str, int]:
    """sha256 over the sorted lines ``<relative path> NUL <sha256 of content>``."""
    files = inventory_files(path)
    base = path.parent if path.is_file() else path
    digest = hashlib.sha256()
    for f in files:
        line = f"{f.relative_to(base).as_posix()}\0{hashlib.sha256(f.read_bytes()).hexdigest()}\n"
        digest.update(line.encode())
    return digest.hexdigest(), len(files)

