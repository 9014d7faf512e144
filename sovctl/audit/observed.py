"""Compare what the hosts really use (``live.Observed``) with what the inventory declares.

Pure. Each observed resolver, NTP source, APT source and outbound connection that
the inventory does not declare becomes an endpoint of the report (located and
judged like any other) and a ``live-undeclared`` warning on the host. A public
address of a host that GeoIP places in another country than the inventory's is a
violation.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

from sovctl.audit.inputs import AuditInput, EndpointUse
from sovctl.audit.live import Observed
from sovctl.audit.locate import Knowledge
from sovctl.audit.rules import Finding
from sovctl.audit.targets import is_private, match_declared, parse_target

OBSERVED = "observed on the host"
PORT_PURPOSES = {53: "dns", 853: "dns", 123: "ntp", 25: "smtp", 465: "smtp", 587: "smtp",
                 3478: "stun", 5349: "turn"}


class _Names:
    """The endpoint hosts one host's variables name: the sets of the classes of hosts it
    belongs to, looked up in place (not copied per host: with LiveKit's TURN list, every
    LiveKit host names every relay)."""

    def __init__(self) -> None:
        self.sets: list[set[str]] = []

    def __contains__(self, name: object) -> bool:
        return any(name in names for names in self.sets)


def _declared_hosts(inputs: AuditInput) -> dict[str, _Names]:
    by_class: dict[int, tuple[tuple[str, ...], set[str]]] = {}
    for use in inputs.uses:
        target = parse_target(use.value, use.purpose)
        if target.host:
            by_class.setdefault(id(use.hosts), (use.hosts, set()))[1].add(target.host)
    found: dict[str, _Names] = defaultdict(_Names)
    for hosts, names in by_class.values():
        for host in hosts:
            found[host].sets.append(names)
    return found


def compare(observed: list[Observed], inputs: AuditInput, countries: dict[str, str | None],
            knowledge: Knowledge) -> tuple[list[EndpointUse], list[Finding], dict[str, Any]]:
    declared = _declared_hosts(inputs)
    uses: list[EndpointUse] = []
    findings: list[Finding] = []
    meta: dict[str, Any] = {}
    for obs in observed:
        meta[obs.host] = _meta(obs)
        if obs.error:
            findings.append(Finding("warning", "live-unreachable", obs.host,
                                    f"live collection failed: {obs.error}", obs.host, "live:"))
            continue
        mine = declared.get(obs.host) or _Names()
        for purpose, var, what, values in (
                ("dns", "live:resolvers", "resolver", obs.resolvers),
                ("ntp", "live:ntp", "NTP source", obs.ntp_sources),
                ("apt", "live:apt", "APT source", obs.apt_sources)):
            for value in values:
                if parse_target(value, purpose).host not in mine:
                    uses.append(EndpointUse((obs.host,), var, purpose, value, OBSERVED, None))
                    findings.append(_undeclared(obs.host, var, f"{what} {value}"))
        _connections(obs, mine, knowledge, uses, findings)
        findings += _address_country(obs, countries.get(obs.host), knowledge)
    return uses, findings, meta


def _meta(obs: Observed) -> dict[str, Any]:
    if obs.error:
        return {"error": obs.error}
    return {"addresses": list(obs.addresses), "resolvers": list(obs.resolvers),
            "ntp_sources": list(obs.ntp_sources), "apt_sources": list(obs.apt_sources),
            "outbound": [c.describe() for c in obs.outbound]}


def _undeclared(host: str, var: str, what: str) -> Finding:
    return Finding("warning", "live-undeclared", host,
                   f"{what} is used but not declared in the inventory", host, var)


def _connections(obs: Observed, mine: _Names, knowledge: Knowledge,
                 uses: list[EndpointUse], findings: list[Finding]) -> None:
    own = set(obs.addresses)
    for conn in obs.outbound:
        try:
            ip = ipaddress.ip_address(conn.peer_ip)
        except ValueError:
            continue
        declared = match_declared(parse_target(conn.peer_ip, "other"), conn.peer_ip,
                                  knowledge.declared)
        if (conn.peer_ip in own or conn.peer_ip in knowledge.internal or conn.peer_ip in mine
                or (is_private(ip) and declared is None)):
            continue
        peer = f"[{ip}]" if ip.version == 6 else str(ip)
        value = f"{conn.proto}://{peer}:{conn.peer_port}"
        uses.append(EndpointUse((obs.host,), "live:connections",
                                PORT_PURPOSES.get(conn.peer_port, "other"), value, OBSERVED, None))
        findings.append(_undeclared(obs.host, "live:connections",
                                    f"outbound connection {conn.describe()}"))


def _address_country(obs: Observed, country: str | None, knowledge: Knowledge) -> list[Finding]:
    if knowledge.geoip is None or country is None:
        return []
    out = []
    for text in obs.addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        record = None if is_private(ip) else knowledge.geoip.lookup(ip)
        if record is not None and record.country != country:
            out.append(Finding("violation", "live-host-country-mismatch", obs.host,
                               f"public address {ip} is in {record.country} ({record.network}"
                               f"{', ' + record.asn if record.asn else ''}), the inventory "
                               f"says {country}", obs.host, "sov_country"))
    return out
