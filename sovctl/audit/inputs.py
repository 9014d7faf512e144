"""From inventory variables to the audit's inputs: host residency facts and endpoint uses.

For each host: its residency facts (sov_provider, sov_region, sov_country, sov_offer)
and, for every registered endpoint variable that applies to its groups, the value
the roles will render: the inventory's value, else the role's default, else the
registry's documented default, evaluated against the host's variables by
sovctl.audit.safe_template (data only: never a lookup, never a command). An empty value that makes
the software fall back to a built-in public
endpoint (LiveKit's Google STUN) becomes that endpoint, with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sovctl.audit.catalogue import DATA_DIR, Registry
from sovctl.audit.countries import is_country
from sovctl.audit.hostvars import (
    HostVars,
    InventoryView,
    Renderer,
    has_template,
    plain,
    read_variables,
    referenced_names,
    role_defaults,
    trusted,
)
from sovctl.audit.origin import find_origin
from sovctl.audit.safe_template import TemplateFailure, check_value
from sovctl.audit.targets import parse_target, valid_host
from sovctl.audit.views import Groups, HostVarsView
from sovctl.errors import EXIT_AUDIT_BAD_INPUT, InputError

FACT_VARS = ("sov_provider", "sov_region", "sov_country", "sov_offer")
# Purposes whose value may be a local path on the host rather than an endpoint.
LOCAL_PATH_PURPOSES = frozenset({"backup"})
TEMPLATE_HINT = ("write the value itself, or use only variable references and the filters "
                 "listed in docs/inventory-validation.md")


@dataclass(frozen=True)
class HostFacts:
    name: str
    provider: str | None
    region: str | None
    country: str | None
    offer: str | None
    address: str | None  # ansible_host
    published: tuple[str, ...] = ()  # names the host serves (keycloak_hostname...)


@dataclass(frozen=True)
class EndpointUse:
    """One value of one variable, used by every host of ``hosts`` (hosts whose audited
    variables are equal share one use: a site-wide NTP server is one use, not 10,000)."""

    hosts: tuple[str, ...]
    var: str
    purpose: str
    value: str
    origin: str  # "inventory", "role livekit default", "documented default"
    fallback_reason: str | None  # set when the value is the software's built-in fallback


@dataclass(frozen=True)
class AuditInput:
    inventory: Path
    hosts: tuple[HostFacts, ...]
    uses: tuple[EndpointUse, ...]
    declared: dict[str, dict[str, Any]]  # sov_endpoint_locations, merged over hosts
    policy_name: str | None  # sov_policy, when the inventory sets it
    locate: Callable[[str, str], str]  # (host, var) -> the file that sets it


class _Reader:
    """Reads one inventory; each error names the file that sets the variable."""

    def __init__(self, view: InventoryView, registry: Registry, roles_dir: Path | None):
        self.view = view
        self.registry = registry
        self.renderer = Renderer(view.loader)
        self.role_data = {role: role_defaults(view.loader, roles_dir, role)
                          for role in set(registry.group_roles.values())}
        self.documented = {v.name: trusted(v.default) for v in registry.variables}
        self.by_name = {hv.name: hv for hv in view.hosts}
        self._checked: dict[int, tuple[Any, str | None]] = {}  # id(value) -> (value, problem)
        self._roots: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._closures: dict[tuple, frozenset[str]] = {}
        self._origin_memo: dict[Any, Any] = {}  # directory listings for find_origin
        self.endpoints_ok: set[tuple[str, str]] = set()  # (purpose, value) that name a host
        self._layer_checked: dict[tuple[str, ...], frozenset[str]] = {}
        self.depth = 0
        self.reads: list[tuple[HostVars, str]] = []  # other hosts' variables read, in order
        self.live = {"groups": Groups(view.hosts), "hostvars": HostVarsView(self)}

    def origin(self, hv: HostVars, var: str) -> str:
        if var in hv.raw:
            return find_origin(self.view.path, hv.name, list(hv.group_order), var,
                               self._origin_memo)
        role = next((v.role for v in self.registry.variables if v.name == var), None)
        if role and var in self.role_data.get(role, {}):
            return str(Path("roles") / role / "defaults" / "main.yml")
        return str(DATA_DIR / "endpoint_vars.yml")

    def locate(self, host: str, var: str) -> str:
        return self.origin(self.by_name[host], var)

    def error(self, hv: HostVars, var: str, message: str, hint: str | None = None) -> InputError:
        if var not in hv.raw and self.depth == 0 and self.reads:
            # A default computed from another host's value (hostvars): point at that value,
            # the one a user can change.
            other, other_var = self.reads[-1]
            message = f"{var} of {hv.name} reads this value: {message}"
            hv, var = other, other_var
        return InputError(message, file=self.origin(hv, var), field=f"hosts.{hv.name}.{var}",
                          hint=hint, exit_code=EXIT_AUDIT_BAD_INPUT)

    def context(self, hv: HostVars) -> dict[str, Any]:
        ctx = dict(self.documented)
        ctx.update(self.live)
        for role in self.registry.roles_for(hv.groups):
            ctx.update(self.role_data.get(role, {}))
        ctx.update(hv.raw)
        return ctx

    def render(self, hv: HostVars, ctx: dict[str, Any], var: str) -> Any:
        from ansible.errors import AnsibleError

        if self.depth == 0:
            self.reads = []
        try:
            return self.renderer.render(ctx.get(var), ctx)
        except TemplateFailure as exc:
            culprit = exc.var if exc.var and exc.var != var else None
            if culprit and culprit in hv.raw:  # the inventory's own value fails
                raise self.error(hv, culprit, f"cannot evaluate (needed by {var}): {exc}",
                                 hint=TEMPLATE_HINT) from None
            if culprit and culprit not in ctx and var not in hv.raw:  # one it must set
                raise InputError(
                    f"{culprit} is not set (needed by {var})", file=self.site_file(),
                    field=f"hosts.{hv.name}.{culprit}", exit_code=EXIT_AUDIT_BAD_INPUT,
                    hint=f"set {culprit} in group_vars/all") from None
            raise self.error(hv, var, f"cannot evaluate: {exc}", hint=TEMPLATE_HINT) from None
        except AnsibleError as exc:  # an inline vault value that does not decrypt
            lines = str(getattr(exc, "message", exc)).strip().splitlines()
            raise self.error(hv, var, f"cannot read: {lines[0] if lines else exc!r}") from None

    def site_file(self) -> str:
        """Where site-wide variables belong: group_vars/all (a file or a directory)."""
        base = self.view.path if self.view.path.is_dir() else self.view.path.parent
        for cand in (base / "group_vars" / "all" / "main.yml", base / "group_vars" / "all.yml",
                     base / "group_vars" / "all"):
            if cand.exists():
                return str(cand)
        return str(self.view.path)

    def check_templates(self, hv: HostVars) -> None:
        """Every template sovctl or its roles evaluate stays within the evaluated subset
        (the same variables as `sovctl check`: sovctl.validate.check_templates)."""
        from sovctl.validate import role_prefixes

        checked = self._layer_checked.get(hv.group_order)
        if hv.own is not None and checked is not None:
            # Its other variables are its groups' values, which an earlier host of the same
            # groups had (all but those that host set itself: in ``checked``).
            values: Any = (hv.raw[k] for k in hv.own | checked if k in hv.raw)
        else:
            values = hv.raw.values()
        if not any(self._problem(value) for value in values):
            if hv.own is not None and checked is None:
                self._layer_checked[hv.group_order] = hv.own
            return  # (values shared by many hosts are checked once)
        for var in read_variables(hv.raw, role_prefixes()):
            problem = self._problem(hv.raw[var])
            if problem:
                raise self.error(hv, var, f"a template sovctl does not evaluate: {problem}",
                                 hint=TEMPLATE_HINT)

    def _problem(self, value: Any) -> str | None:
        if isinstance(value, str) and "{" not in value:
            return None
        seen = self._checked.get(id(value))
        if seen is None or seen[0] is not value:
            seen = self._checked[id(value)] = (value, check_value(value))
        return seen[1]

    def signature(self, hv: HostVars) -> tuple:
        """Equal for two hosts whose audited values are equal: their groups (and so their
        shared group variables and role defaults) and, of their own variables, those the
        audited variables read, directly or through templates."""
        raw = hv.raw
        own = hv.own if hv.own is not None else frozenset(raw)
        templated = tuple(sorted((k, _frozen(raw[k])) for k in own if has_template(raw[k])))
        key = (hv.group_order, own, templated)
        closure = self._closures.get(key)
        if closure is None:
            ctx = self.context(hv)
            roots = self.roots(hv)
            names = set(roots)
            for var in roots:
                names |= referenced_names(ctx.get(var), ctx)
            closure = self._closures[key] = frozenset(names)
        return hv.group_order, tuple(sorted((k, _frozen(raw[k])) for k in own & closure))

    def roots(self, hv: HostVars) -> tuple[str, ...]:
        """Every variable the audit evaluates for a host of these groups."""
        if hv.groups not in self._roots:
            registry = self.registry
            self._roots[hv.groups] = (
                *FACT_VARS, "sov_policy", "sov_endpoint_locations",
                *(var for var, groups in registry.published_names.items()
                  if any(g in hv.groups for g in groups)),
                *(v.name for v in registry.variables if v.applies_to(hv.groups)))
        return self._roots[hv.groups]

    def text(self, hv: HostVars, ctx: dict[str, Any], var: str) -> str | None:
        value = self.render(hv, ctx, var)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.error(hv, var, f"must be a string, not {type(value).__name__}")
        return value


@dataclass
class _Evaluated:
    """What the audit reads of one host, shared by every host with its signature."""

    facts: tuple[str | None, str | None, str | None, str | None, tuple[str, ...]]
    uses: list[tuple[str, str, str, str, str | None]]  # var, purpose, value, origin, fallback
    members: list[str] = field(default_factory=list)


def read_inputs(view: InventoryView, registry: Registry, roles_dir: Path | None) -> AuditInput:
    """Each host's facts and endpoint uses. Hosts with equal signatures (the same groups,
    and equal own values of what the audited variables read) are evaluated once: the
    first of them in inventory order, so an error names the host it named before."""
    reader = _Reader(view, registry, roles_dir)
    hosts, policies = [], {}
    declared: dict[str, dict[str, Any]] = {}
    for hv in view.hosts:
        reader.check_templates(hv)
    evaluated: dict[tuple, _Evaluated] = {}
    for hv in view.hosts:
        key = reader.signature(hv)
        one = evaluated.get(key)
        if one is None:
            ctx = reader.context(hv)
            one = evaluated[key] = _Evaluated(_facts(reader, hv, ctx), _uses(reader, hv, ctx))
            _merge_declared(reader, hv, ctx, declared)
            policy = reader.text(hv, ctx, "sov_policy")
            if policy:
                policies.setdefault(policy, hv)
        one.members.append(hv.name)
        address = hv.raw.get("ansible_host")
        provider, region, country, offer, published = one.facts
        hosts.append(HostFacts(hv.name, provider, region, country, offer,
                               str(address) if address is not None else None, published))
    if len(policies) > 1:
        first, *_ = policies.values()
        raise reader.error(first, "sov_policy",
                           f"hosts name different policies: {', '.join(sorted(policies))}",
                           hint="set sov_policy once, in group_vars/all, or pass --policy")
    uses = []
    for one in evaluated.values():
        members = tuple(one.members)
        uses += [EndpointUse(members, *use) for use in one.uses]
    return AuditInput(view.path, tuple(hosts), tuple(uses), declared,
                      next(iter(policies), None), reader.locate)


def _frozen(value: Any) -> str:
    return json.dumps(plain(value), sort_keys=True, default=str)


def _facts(reader: _Reader, hv: HostVars, ctx: dict[str, Any]) -> tuple:
    provider, region, country, offer = (reader.text(hv, ctx, v) for v in FACT_VARS)
    if country is not None and not is_country(country):
        raise reader.error(hv, "sov_country",
                           f"must be an ISO 3166-1 alpha-2 code such as FR, not {country!r}",
                           hint="use the country's two-letter ISO code (GB, not UK)")
    published = []
    for var, groups in reader.registry.published_names.items():
        if any(g in hv.groups for g in groups):
            try:
                name = reader.text(hv, ctx, var)
            except InputError:  # e.g. no sov_domain: the host publishes no name we know
                continue
            host = parse_target(name, "other").host if name else None
            if name and not (host and valid_host(host)):
                raise reader.error(hv, var, f"{name!r} names no valid host",
                                   hint="write the name the service is reached at, e.g. "
                                        "https://office.example.eu or office.example.eu")
            if host:
                published.append(host)
    return provider, region, country, offer, tuple(published)


def _uses(reader: _Reader, hv: HostVars, ctx: dict[str, Any]) -> list[tuple]:
    found = []
    for var in reader.registry.variables:
        if not var.applies_to(hv.groups):
            continue
        values = _endpoint_values(reader, hv, var.name, reader.render(hv, ctx, var.name),
                                  var.entries)
        origin = "inventory" if var.name in hv.raw else (
            f"role {var.role} default" if var.role and var.name in reader.role_data.get(
                var.role, {}) else "documented default")
        fallback = None
        if not values and var.when_empty:
            values = var.when_empty if isinstance(var.when_empty, list) else [var.when_empty]
            fallback = var.when_empty_reason
        for v in values:
            if (var.purpose, v) not in reader.endpoints_ok:  # each value checked once
                _check_endpoint(reader, hv, var.name, var.purpose, v)
                reader.endpoints_ok.add((var.purpose, v))
        found += [(var.name, var.purpose, v, origin, fallback) for v in values]
    return found


def _check_endpoint(reader: _Reader, hv: HostVars, var: str, purpose: str, value: str) -> None:
    """Every endpoint value names a host (or, for a backup, a local path): none is dropped."""
    try:
        target = parse_target(value, purpose)
    except ValueError as exc:
        raise reader.error(hv, var, f"cannot read the endpoint {value!r}: {exc}",
                           hint="write a URL such as https://host.example.eu/path, "
                                "or host:port") from None
    if target.host is None and purpose in LOCAL_PATH_PURPOSES and \
            value.strip().startswith(("/", "./", "~")):
        return
    if target.host is None or not valid_host(target.host):
        raise reader.error(hv, var, f"the endpoint {value!r} names no valid host",
                           hint="write a URL such as https://host.example.eu/path, "
                                "or host:port")


def _endpoint_values(reader: _Reader, hv: HostVars, var: str, value: Any,
                     entries: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """A string, a list of strings, or mappings with a url/host key (empty items skipped;
    with ``entries``, mappings without those keys and values are not endpoints)."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        aliases = []
        if isinstance(item, dict) and any(str(item.get(k)) != v for k, v in entries):
            continue
        if isinstance(item, dict):
            # Other names of the same service (collabora_wopi_hosts' aliases) are audited too.
            aliases = [str(a).strip() for a in item.get("aliases") or []
                       if isinstance(a, str) and a.strip()]
            keys = [k for k in ("url", "urls", "host") if k in item]
            if not keys:
                raise reader.error(hv, var, "a mapping without a url or host key",
                                   hint="give each entry a url: or host: key")
            item = item[keys[0]]
        if isinstance(item, list):
            for x in item:
                if x is not None and x != "" and not isinstance(x, str):
                    raise reader.error(hv, var, "a list of endpoints must hold strings, "
                                                f"not {type(x).__name__}")
            out += [x.strip() for x in item if isinstance(x, str) and x.strip()]
        elif isinstance(item, str):
            if item.strip():
                out.append(item.strip())
        elif item is not None:
            raise reader.error(hv, var, "must be a string, a list of strings, or mappings "
                                        f"with a url or host key, not {type(item).__name__}")
        out += aliases
    return out


def _merge_declared(reader: _Reader, hv: HostVars, ctx: dict[str, Any],
                    declared: dict[str, dict[str, Any]]) -> None:
    value = reader.render(hv, ctx, "sov_endpoint_locations")
    if value is None:
        return
    if not isinstance(value, dict):
        raise reader.error(hv, "sov_endpoint_locations",
                           "must map endpoints (host, IP, CIDR or URL) to their location")
    for key, entry in value.items():
        field = f"sov_endpoint_locations.{key}"
        if not isinstance(entry, dict):
            raise reader.error(hv, "sov_endpoint_locations", f"{field} must be a mapping")
        for name in ("operator", "parent"):
            if entry.get(name) is not None and not isinstance(entry.get(name), str):
                raise reader.error(hv, "sov_endpoint_locations",
                                   f"{field}.{name} must be text, not "
                                   f"{type(entry.get(name)).__name__}")
        for name in ("country", "operator_country", "parent_country"):
            code = entry.get(name)
            if (code is not None or name == "country") and not is_country(code):
                raise reader.error(hv, "sov_endpoint_locations",
                                   f"{field}.{name} must be an ISO 3166-1 alpha-2 code, "
                                   f"not {code!r}")
        if key in declared and declared[key] != entry:
            raise reader.error(hv, "sov_endpoint_locations",
                               f"{field} differs from another host's declaration")
        declared[key] = entry
