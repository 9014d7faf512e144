"""Reference data of the audit: providers, public endpoints, endpoint variables, policies.

Each loader validates its file and raises InputError (exit 2, the audit's bad-input
code) naming the file and the field, so a broken user policy is reported like any
other bad input.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import yaml

from sovctl.errors import EXIT_AUDIT_BAD_INPUT, InputError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
PURPOSES = ("stun", "turn", "oidc", "ntp", "dns", "smtp", "apt", "artifact", "acme",
            "backup", "webhook", "other")
UNKNOWN_LOCATION = ("warning", "violation")
_COUNTRY = re.compile(r"[A-Z]{2}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Fact:
    """Where a catalogue fact comes from: a public page and the date it was checked."""

    what: str
    source: str
    checked: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"fact": self.what, "source": self.source, "checked": self.checked}


@dataclass(frozen=True)
class Region:
    key: str
    country: str
    city: str


@dataclass(frozen=True)
class Qualification:
    scheme: str
    offer: str
    name: str
    regions: tuple[str, ...] | None
    fact: Fact


@dataclass(frozen=True)
class Provider:
    key: str
    name: str
    kind: str  # "cloud" or "local"
    seat: tuple[str, str] | None  # (entity, country)
    parent: tuple[str, str] | None  # (name, country)
    technology: tuple[str, str] | None
    regions: dict[str, Region]
    qualifications: tuple[Qualification, ...]
    facts: dict[str, Fact]

    @property
    def is_local(self) -> bool:
        return self.kind == "local"


@dataclass(frozen=True)
class KnownEndpoint:
    key: str
    name: str
    operator: str | None
    operator_country: str | None
    parent: str | None
    parent_country: str | None
    country: str | None
    hosts: frozenset[str]
    domains: tuple[str, ...]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    fact: Fact
    # "global": answers from many countries worldwide (anycast, a worldwide CDN or pool),
    # the EU's and others': not an unknown location, a known non-resident one.
    reach: str | None = None


@dataclass(frozen=True)
class EndpointVar:
    name: str
    purpose: str
    groups: tuple[str, ...]
    role: str | None
    default: Any
    when_empty: Any
    when_empty_reason: str | None
    # For a list of mappings: only the entries with these keys and values are endpoints
    # (monitoring_receivers' webhooks; its mail entries go through the SMTP relay).
    entries: tuple[tuple[str, str], ...] = ()

    def applies_to(self, host_groups: tuple[str, ...]) -> bool:
        return "all" in self.groups or any(g in host_groups for g in self.groups)


@dataclass(frozen=True)
class Registry:
    variables: tuple[EndpointVar, ...]
    group_roles: dict[str, str]
    # Variables naming what the deployment serves itself, and the groups they apply to.
    published_names: dict[str, tuple[str, ...]] = dataclass_field(default_factory=dict)

    def roles_for(self, host_groups: tuple[str, ...]) -> list[str]:
        return [role for group, role in self.group_roles.items() if group in host_groups]


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    countries: frozenset[str]
    parent_countries: frozenset[str]
    require_eu_parent: bool
    require_qualification: str | None
    unknown_location: str
    source: str
    sha256: str

    def as_meta(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "sha256": self.sha256,
                "countries": sorted(self.countries),
                "parent_countries": sorted(self.parent_countries),
                "require_eu_parent": self.require_eu_parent,
                "require_qualification": self.require_qualification,
                "unknown_location": self.unknown_location}


def _bad(path: Path, field: str, message: str, hint: str | None = None) -> InputError:
    return InputError(message, file=str(path), field=field or None, hint=hint,
                      exit_code=EXIT_AUDIT_BAD_INPUT)


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def read_yaml(path: Path) -> Any:
    """A catalogue or policy file; a user's policy file is untrusted (size, binary, aliases)."""
    from sovctl.inventory import read_yaml_file

    try:
        if path.stat().st_size > 2 * 1024 * 1024:
            raise _bad(path, "", "larger than 2 MiB: not a policy or catalogue file")
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise _bad(path, "", f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise _bad(path, "", "not UTF-8 text (a binary file?)") from None
    if "\x00" in text:
        raise _bad(path, "", "a binary file, not YAML")
    read_yaml_file(path, EXIT_AUDIT_BAD_INPUT, text=text)  # limits, duplicate keys
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        raise _bad(path, "", f"not valid YAML: {exc}") from exc


class _Reader:
    """Typed access to one YAML document; every error names the file and the field."""

    def __init__(self, path: Path):
        self.path = path

    def mapping(self, value: Any, field: str) -> dict:
        if not isinstance(value, dict):
            raise _bad(self.path, field, "must be a mapping")
        return value

    def text(self, data: dict, key: str, field: str, *, optional: bool = False) -> str | None:
        value = data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise _bad(self.path, _join(field, key), "must be a non-empty string")
        return value

    def country(self, data: dict, key: str, field: str, *, optional: bool = False) -> str | None:
        value = data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not _COUNTRY.fullmatch(value):
            raise _bad(self.path, _join(field, key),
                       f"must be an ISO 3166-1 alpha-2 code such as FR, not {value!r}",
                       hint='quote "NO" (Norway): YAML reads a bare NO as false')
        return value

    def fact(self, data: dict, field: str, what: str) -> Fact:
        source = self.text(data, "source", field)
        checked = data.get("checked")
        if checked is not None and not (isinstance(checked, str) and _DATE.fullmatch(checked)):
            raise _bad(self.path, _join(field, "checked"), 'must be null or a quoted "YYYY-MM-DD"')
        return Fact(what, source, checked)


def load_providers(path: Path = DATA_DIR / "providers.yml") -> dict[str, Provider]:
    r = _Reader(path)
    doc = r.mapping(read_yaml(path), "")
    entries = r.mapping(doc.get("providers"), "providers")
    return {key: _provider(r, key, r.mapping(data, f"providers.{key}"))
            for key, data in entries.items()}


def _provider(r: _Reader, key: str, data: dict) -> Provider:
    field = f"providers.{key}"
    name = r.text(data, "name", field)
    kind = data.get("kind")
    if kind == "local":
        return Provider(key, name, "local", None, None, None, {}, (), {})
    if kind != "cloud":
        raise _bad(r.path, f"{field}.kind", "must be cloud or local")
    facts: dict[str, Fact] = {}
    seat_d = r.mapping(data.get("legal_seat"), f"{field}.legal_seat")
    seat = (r.text(seat_d, "entity", f"{field}.legal_seat"),
            r.country(seat_d, "country", f"{field}.legal_seat"))
    facts["legal_seat"] = r.fact(seat_d, f"{field}.legal_seat",
                                 f"legal seat: {seat[0]} ({seat[1]})")
    parent_d = r.mapping(data.get("parent"), f"{field}.parent")
    parent = (r.text(parent_d, "name", f"{field}.parent"),
              r.country(parent_d, "country", f"{field}.parent"))
    facts["parent"] = r.fact(parent_d, f"{field}.parent",
                             f"ultimate parent: {parent[0]} ({parent[1]})")
    technology = None
    if data.get("technology") is not None:
        tech_d = r.mapping(data["technology"], f"{field}.technology")
        technology = (r.text(tech_d, "name", f"{field}.technology"),
                      r.country(tech_d, "country", f"{field}.technology"))
        facts["technology"] = r.fact(tech_d, f"{field}.technology",
                                     f"technology: {technology[0]} ({technology[1]})")
    regions_d = r.mapping(data.get("regions"), f"{field}.regions")
    items = r.mapping(regions_d.get("items"), f"{field}.regions.items")
    regions = {}
    for rkey, rdata in items.items():
        rfield = f"{field}.regions.items.{rkey}"
        rdata = r.mapping(rdata, rfield)
        regions[str(rkey)] = Region(str(rkey), r.country(rdata, "country", rfield),
                                    r.text(rdata, "city", rfield))
    facts["regions"] = r.fact(regions_d, f"{field}.regions", f"regions of {name}")
    quals = tuple(_qualification(r, q, f"{field}.qualifications[{i}]", regions)
                  for i, q in enumerate(data.get("qualifications") or []))
    return Provider(key, name, "cloud", seat, parent, technology, regions, quals, facts)


def _qualification(r: _Reader, data: Any, field: str, regions: dict) -> Qualification:
    data = r.mapping(data, field)
    scheme = r.text(data, "scheme", field)
    offer = r.text(data, "offer", field)
    name = r.text(data, "name", field)
    limited = data.get("regions")
    if limited is not None:
        unknown = [x for x in limited if x not in regions]
        if unknown:
            raise _bad(r.path, f"{field}.regions", f"unknown regions {unknown}")
        limited = tuple(limited)
    return Qualification(scheme, offer, name, limited,
                         r.fact(data, field, f"{scheme} qualification: {name}"))


def load_endpoints(path: Path = DATA_DIR / "endpoints.yml") -> tuple[KnownEndpoint, ...]:
    r = _Reader(path)
    doc = r.mapping(read_yaml(path), "")
    entries = r.mapping(doc.get("endpoints"), "endpoints")
    return tuple(_known_endpoint(r, key, r.mapping(data, f"endpoints.{key}"))
                 for key, data in entries.items())


def _known_endpoint(r: _Reader, key: str, data: dict) -> KnownEndpoint:
    field = f"endpoints.{key}"
    match = r.mapping(data.get("match"), f"{field}.match")
    try:
        networks = tuple(ipaddress.ip_network(c) for c in match.get("cidrs") or [])
    except ValueError as exc:
        raise _bad(r.path, f"{field}.match.cidrs", str(exc)) from exc
    hosts = frozenset(h.lower() for h in match.get("hosts") or [])
    domains = tuple(d.lower() for d in match.get("domains") or [])
    if not (hosts or domains or networks):
        raise _bad(r.path, f"{field}.match", "needs hosts, domains or cidrs")
    name = r.text(data, "name", field)
    reach = data.get("reach")
    if reach not in (None, "global"):
        raise _bad(r.path, f"{field}.reach", "must be global (or absent: a fixed country)")
    if reach and data.get("country") is not None:
        raise _bad(r.path, f"{field}.reach", "an endpoint served globally has country: null")
    return KnownEndpoint(
        key=key, name=name,
        operator=r.text(data, "operator", field, optional=True),
        operator_country=r.country(data, "operator_country", field, optional=True),
        parent=r.text(data, "parent", field, optional=True),
        parent_country=r.country(data, "parent_country", field, optional=True),
        country=r.country(data, "country", field, optional=True),
        hosts=hosts, domains=domains, networks=networks,
        fact=r.fact(data, field, f"{name}: operator and location"), reach=reach)


def load_registry(path: Path = DATA_DIR / "endpoint_vars.yml") -> Registry:
    r = _Reader(path)
    doc = r.mapping(read_yaml(path), "")
    group_roles = {str(k): str(v) for k, v in r.mapping(doc.get("group_roles"),
                                                       "group_roles").items()}
    variables = []
    for name, data in r.mapping(doc.get("variables"), "variables").items():
        field = f"variables.{name}"
        data = r.mapping(data, field)
        purpose = data.get("purpose")
        if purpose not in PURPOSES:
            raise _bad(path, f"{field}.purpose", f"must be one of {', '.join(PURPOSES)}")
        groups = data.get("groups")
        if not isinstance(groups, list) or not groups:
            raise _bad(path, f"{field}.groups", "must be a non-empty list of groups")
        empty = r.mapping(data.get("when_empty") or {}, f"{field}.when_empty")
        entries = r.mapping(data.get("entries") or {}, f"{field}.entries")
        variables.append(EndpointVar(
            name=name, purpose=purpose, groups=tuple(groups), role=data.get("role"),
            default=data.get("default"), when_empty=empty.get("value"),
            when_empty_reason=empty.get("reason"),
            entries=tuple((str(k), str(v)) for k, v in entries.items())))
    published = {}
    for name, groups in r.mapping(doc.get("published_names") or {}, "published_names").items():
        if not isinstance(groups, list) or not groups:
            raise _bad(path, f"published_names.{name}", "must be a non-empty list of groups")
        published[str(name)] = tuple(str(g) for g in groups)
    return Registry(tuple(variables), group_roles, published)


def shipped_policies(policies_dir: Path) -> list[str]:
    return sorted(p.stem for p in policies_dir.glob("*.yml"))


def resolve_policy_path(name_or_path: str, policies_dir: Path) -> Path:
    """A shipped policy by name (``eu-sovereign``) or a user file by path."""
    cand = Path(name_or_path)
    if cand.suffix in (".yml", ".yaml") or cand.is_file():
        if not cand.is_file():
            raise InputError("policy file not found", file=str(cand), field="--policy",
                             exit_code=EXIT_AUDIT_BAD_INPUT)
        return cand
    shipped = policies_dir / f"{name_or_path}.yml"
    if not shipped.is_file():
        raise InputError(
            f"unknown policy {name_or_path!r}", file=str(policies_dir), field="--policy",
            hint=f"use one of {', '.join(shipped_policies(policies_dir))} or a policy file path",
            exit_code=EXIT_AUDIT_BAD_INPUT)
    return shipped


def load_policy(path: Path) -> Policy:
    r = _Reader(path)
    raw = path.read_bytes()
    data = r.mapping(read_yaml(path), "")
    countries = data.get("countries")
    allowed = _country_list(r, countries, "countries")
    parents = data.get("parent_countries")
    parent_set = allowed if parents is None else _country_list(r, parents, "parent_countries")
    require_parent = data.get("require_eu_parent", False)
    if not isinstance(require_parent, bool):
        raise _bad(path, "require_eu_parent", "must be true or false")
    unknown = data.get("unknown_location", "warning")
    if unknown not in UNKNOWN_LOCATION:
        raise _bad(path, "unknown_location", "must be warning or violation")
    qualification = data.get("require_qualification")
    if qualification is not None and not isinstance(qualification, str):
        raise _bad(path, "require_qualification", "must be null or a scheme such as secnumcloud")
    return Policy(
        name=r.text(data, "name", "") or path.stem,
        description=data.get("description") or "",
        countries=allowed, parent_countries=parent_set,
        require_eu_parent=require_parent, require_qualification=qualification,
        unknown_location=unknown, source=str(path),
        sha256=hashlib.sha256(raw).hexdigest())


def _country_list(r: _Reader, values: Any, field: str) -> frozenset[str]:
    if not isinstance(values, list) or not values:
        raise _bad(r.path, field, "must be a non-empty list of country codes")
    return frozenset(r.country({field: c}, field, "") for c in values)
