"""Filters of the firewall role (no dependency on sovctl: plain Ansible runs the role too)."""

from __future__ import annotations

import ipaddress
import re

# `ss -Hlntup`: Netid State Recv-Q Send-Q Local:Port Peer:Port [Process]
_PROCESS = re.compile(r'\(\("([^"]+)"')


def _covers(rules, proto: str, port: int) -> bool:
    for rule in rules or []:
        if str(rule.get("proto", "tcp")) != proto:
            continue
        bounds = str(rule.get("port", "")).split("-")
        try:
            low, high = int(bounds[0]), int(bounds[-1])
        except ValueError:
            continue
        if low <= port <= high:
            return True
    return False


def _public(address: str) -> bool:
    """Whether a listening address is reachable from other hosts (not loopback only)."""
    host = address.strip("[]")
    if "%" in host:
        host, _, iface = host.partition("%")
        if iface == "lo":
            return False
    if host in ("*", "", "0.0.0.0", "::"):  # noqa: S104 - an address read, not bound
        return True
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def firewall_listening(ss_lines):
    """[{proto, port, address, process}] of the sockets listening on a public address."""
    out = []
    for line in ss_lines or []:
        fields = line.split()
        if len(fields) < 5 or fields[0] not in ("tcp", "udp"):
            continue
        address, _, port = fields[4].rpartition(":")
        if not port.isdigit() or not _public(address):
            continue
        match = _PROCESS.search(line)
        out.append({"proto": fields[0], "port": int(port), "address": address,
                    "process": match.group(1) if match else "unknown process"})
    return out


def firewall_closing(listening, live_rules, new_rules, allowed=()):
    """The listening sockets that the live ruleset lets in and the new one would shut.

    ``allowed``: "PORT/PROTO" strings the inventory lets close (a service removed).
    """
    allowed = {str(a).lower() for a in allowed or []}
    out, seen = [], set()
    for sock in listening or []:
        key = (sock["proto"], sock["port"])
        if key in seen or f"{sock['port']}/{sock['proto']}" in allowed:
            continue
        if _covers(live_rules, *key) and not _covers(new_rules, *key):
            seen.add(key)
            out.append(sock)
    return out


class FilterModule:
    def filters(self):
        return {"firewall_listening": firewall_listening, "firewall_closing": firewall_closing}
