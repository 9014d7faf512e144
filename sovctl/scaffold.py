"""``sovctl init``: write a standard Ansible inventory and a vault of generated secrets."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from sovctl import secrets
from sovctl.errors import InputError
from sovctl.inventory import HOST_NAME, bad_name
from sovctl.validate import FQDN, known_policies

SERVICE_GROUPS = ("turn", "conferencing", "identity", "edge", "office", "meet")

# No user text in comments: every value goes through the YAML serializer.
HEADER = "# Written by `sovctl init`; edit freely. Check with `sovctl check -i DIR`.\n"
# NAME:GROUP[+GROUP]:ADDRESS:PROVIDER:REGION[:COUNTRY]; an IPv6 ADDRESS in brackets.
_HOST_SPEC = re.compile(r"([^:]+):([^:]+):(\[[^\]]*\]|[^:\[\]]+):([^:]+):([^:]+)(?::([^:]*))?")
# What init writes as a host name: a DNS label or name (no Ansible range patterns).
_INIT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*")
_TEXT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")

# Site-wide endpoints: EU operators by default, each one an inventory value the
# roles render and the residency audit reads (sovctl/data/endpoint_vars.yml).
ENDPOINT_DEFAULTS = {
    "sov_ntp_servers": ["ptbtime1.ptb.de", "ptbtime2.ptb.de"],
    "sov_dns_resolvers": [],
    "sov_apt_mirror": "",
    "sov_acme_directory": "",
    "sov_smtp_relay": "",
    "sov_stun_servers": [],
    "sov_artifact_mirror": "",
    "sov_backup_target": "",
}


@dataclass
class HostSpec:
    name: str
    groups: list[str]
    address: str
    provider: str
    region: str
    country: str | None = None


def parse_host(text: str) -> HostSpec:
    """NAME:GROUP[+GROUP]:ADDRESS:PROVIDER:REGION[:COUNTRY] (IPv6: [ADDRESS])"""
    m = _HOST_SPEC.fullmatch(text)
    if not m:
        raise InputError(f"cannot read {text!r}", field="--host",
                         hint="write NAME:GROUP[+GROUP]:ADDRESS:PROVIDER:REGION[:COUNTRY], "
                              "e.g. turn1:turn:203.0.113.10:ovhcloud:gra or "
                              "turn1:turn:[2001:db8::10]:ovhcloud:gra")
    parts = [m[1], m[2], m[3].strip("[]"), m[4], m[5], *([m[6]] if m[6] else [])]
    groups = parts[1].split("+")
    unknown = [g for g in groups if g not in SERVICE_GROUPS]
    if unknown:
        raise InputError(f"unknown group {unknown[0]!r} in {text!r}", field="--host",
                         hint="groups: " + ", ".join(SERVICE_GROUPS))
    return HostSpec(parts[0], groups, parts[2], parts[3], parts[4],
                    parts[5] if len(parts) == 6 else None)


def check_address(h: HostSpec) -> None:
    """An IPv4 or IPv6 address, or a DNS name: nothing a shell or YAML would interpret."""
    try:
        h.address = str(ipaddress.ip_address(h.address))
        return
    except ValueError:
        pass
    if not FQDN.match(h.address or ""):
        raise InputError(f"host {h.name}: {h.address!r} is not an IP address or a DNS name",
                         field="--host",
                         hint="e.g. 203.0.113.10, [2001:db8::10] or node1.example.eu")


def check_hosts(hosts: list[HostSpec]) -> None:
    from sovctl.audit.catalogue import load_providers
    from sovctl.audit.countries import is_country

    providers = load_providers()
    seen = set()
    for h in hosts:
        if bad_name(h.name, HOST_NAME) or not _INIT_NAME.fullmatch(h.name):
            raise InputError(f"{h.name!r} is not a valid host name", field="--host",
                             hint="a DNS name: letters, digits, - and . only, e.g. turn1")
        check_address(h)
        for what, value in (("provider", h.provider), ("region", h.region)):
            if not _TEXT.fullmatch(value or ""):
                raise InputError(f"host {h.name}: {value!r} is not a valid {what} name",
                                 field="--host", hint="lower-case letters, digits and -")
        if h.country is not None and not is_country(h.country):
            raise InputError(f"host {h.name}: {h.country!r} is not an ISO 3166-1 country code",
                             field="--host", hint="e.g. FR, DE, GB (not UK)")
        if h.name in seen:
            raise InputError(f"host {h.name!r} is given twice", field="--host")
        seen.add(h.name)
        if h.provider not in providers:
            raise InputError(f"unknown provider {h.provider!r} for host {h.name}",
                             field="--host", hint="one of: " + ", ".join(sorted(providers)))
        prov = providers[h.provider]
        if prov.is_local:
            if not h.country:
                raise InputError(f"host {h.name} at {h.provider} needs a country",
                                 field="--host", hint="add :COUNTRY (ISO code, e.g. FR)")
            continue
        if h.region not in prov.regions:
            raise InputError(f"unknown region {h.region!r} of {h.provider} for host {h.name}",
                             field="--host", hint="one of: " + ", ".join(sorted(prov.regions)))
        region_country = prov.regions[h.region].country
        if h.country and h.country != region_country:
            raise InputError(f"host {h.name}: {h.provider} {h.region} is in {region_country}, "
                             f"not {h.country}", field="--host",
                             hint="leave COUNTRY out: it comes from the region")
        h.country = region_country


def scaffold(directory: Path, domain: str, hosts: list[HostSpec], policy: str = "eu-sovereign"
             ) -> secrets.EnsureResult:
    if not FQDN.match(domain or ""):
        raise InputError(f"not a DNS domain name: {domain!r}", field="--domain",
                         hint="e.g. collab.example.eu")
    if policy not in known_policies():
        raise InputError(f"unknown policy {policy!r}", field="--policy",
                         hint="one of: " + ", ".join(known_policies()))
    if not str(directory).isprintable():
        raise InputError(f"the directory name {str(directory)!r} has control characters",
                         field="DIR", hint="choose a plain directory name")
    if not hosts:
        raise InputError("no hosts given", field="--host",
                         hint="e.g. --host turn1:turn:203.0.113.10:ovhcloud:gra")
    check_hosts(hosts)
    if directory.exists() and any(directory.iterdir()):
        raise InputError("the directory is not empty: sovctl init never overwrites an inventory",
                         file=str(directory), hint="choose a new directory")
    groups: dict[str, dict] = {g: {"hosts": {}} for g in SERVICE_GROUPS}
    for h in hosts:
        for g in h.groups:
            groups[g]["hosts"][h.name] = {
                "ansible_host": h.address, "sov_provider": h.provider,
                "sov_region": h.region, "sov_country": h.country}
    inventory = {"all": {"children": {g: v for g, v in groups.items() if v["hosts"]}}}
    site = {"sov_domain": domain, "sov_policy": policy, **ENDPOINT_DEFAULTS}
    files = {
        "hosts.yml": inventory,
        "group_vars/all/main.yml": site,
    }
    for rel, data in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\n" + HEADER
                        + yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    (directory / ".gitignore").write_text(".vault-pass\n.sovctl-ca/\n")
    return secrets.ensure(directory)
