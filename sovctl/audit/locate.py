"""Where an endpoint is: the deployment itself, the catalogue, the operator's word, GeoIP.

Order matters: a host of the deployment is internal; a well-known public service
is what the catalogue says, whatever the inventory claims; then the operator's own
declaration (which may place a private address abroad, behind a VPN); then a
private address is internal; then GeoIP for public IP addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sovctl.audit.catalogue import KnownEndpoint
from sovctl.audit.geoip import GeoIP
from sovctl.audit.rules import Location
from sovctl.audit.targets import Target, is_private, match_declared, match_known


@dataclass(frozen=True)
class Knowledge:
    """Everything an endpoint can be located with."""

    known: tuple[KnownEndpoint, ...]
    declared: dict[str, dict[str, Any]]
    internal: dict[str, tuple[str, str | None]]  # host name or address -> (host, country)
    geoip: GeoIP | None = None


def locate(target: Target, raw: str, k: Knowledge) -> Location:
    if target.host is None:
        return Location("internal", "a local path on the host")
    if target.host in k.internal:
        host, country = k.internal[target.host]
        return Location("internal", f"host {host} of this deployment", country)
    entry = match_known(target, k.known)
    if entry is not None:
        return _from_catalogue(entry)
    declared = match_declared(target, raw, k.declared)
    if declared is not None:  # also for a private address: a VPN can lead abroad
        return _from_declaration(declared)
    if target.ip is not None and is_private(target.ip):
        return Location("internal", "a private or loopback address")
    if target.ip is not None and k.geoip is not None:
        record = k.geoip.lookup(target.ip)
        if record is not None:
            asn = f", {record.asn}" if record.asn else ""
            return Location("geoip", f"GeoIP: {record.network} in {record.country}{asn}",
                            record.country,
                            sources=({"fact": f"{record.network} -> {record.country}{asn}",
                                      "source": k.geoip.source, "checked": None},))
    return Location("unknown", "not in the endpoint catalogue, not declared in "
                               "sov_endpoint_locations")


def _from_catalogue(entry: KnownEndpoint) -> Location:
    served = f"answers from {entry.country}" if entry.country else \
        "served worldwide (anycast, CDN or pool), outside the EU too" if entry.reach \
        else "served from many places (anycast, CDN or pool): no fixed country"
    owner = entry.operator or "operator unknown"
    if entry.operator_country:
        owner += f" ({entry.operator_country})"
    if entry.parent and entry.parent_country and entry.parent != entry.operator:
        owner += f", parent {entry.parent} ({entry.parent_country})"
    return Location("catalogue", f"{entry.name}: {owner}; {served}", entry.country,
                    entry.operator, entry.operator_country, entry.parent_country,
                    (entry.fact.as_dict(),), reach=entry.reach)


def _from_declaration(entry: dict[str, Any]) -> Location:
    operator = entry.get("operator")
    return Location("declared",
                    f"declared in sov_endpoint_locations: {entry['country']}"
                    f"{', operator ' + operator if operator else ''} (not verified)",
                    entry["country"], operator, entry.get("operator_country"),
                    entry.get("parent_country"),
                    ({"fact": "declared by the operator", "source": "sov_endpoint_locations",
                      "checked": None},))
