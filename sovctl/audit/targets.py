"""Endpoint values: find the host in a URL-ish string, redact secrets, locate it.

Values come in many shapes: ``https://host/path``, ``stun:host:3478``,
``turns:host:5349?transport=tcp``, ``host:587``, ``8.8.8.8``, ``[2001:db8::1]:53``,
restic-style ``s3:https://host/bucket`` or ``sftp:user@host:/srv/backup``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sovctl.audit.catalogue import KnownEndpoint

# Schemes whose rest is host[:port][?query] (RFC 7064/7065), and wrapper schemes
# whose rest is another endpoint value (restic and rclone repository strings).
_OPAQUE = frozenset({"stun", "stuns", "turn", "turns"})
_WRAPPERS = frozenset({"s3", "sftp", "rest", "swift", "b2", "azure", "gs", "rclone"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.S)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """One endpoint: the redacted value shown in reports and the host it names."""

    display: str
    host: str | None  # lower-case host name or IP address text; None for a local path
    ip: IPAddress | None


def parse_target(value: str, purpose: str) -> Target:
    text = value.strip()
    host, display = _split(text, purpose)
    if not host:
        return Target(display, None, None)
    host = host.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    return Target(display, host, ip)


def _split(text: str, purpose: str) -> tuple[str | None, str]:
    m = _SCHEME.match(text)
    if m and m[2].startswith("//"):
        return _split_url(text, purpose)
    if m and m[1].lower() in _OPAQUE:
        host = _host_port(m[2].split("?", 1)[0])
        return host, f"{m[1].lower()}:{m[2].split('?', 1)[0]}"
    if m and m[1].lower() in _WRAPPERS:
        host, inner = _split(m[2], purpose)
        return host, f"{m[1].lower()}:{inner}"
    if text.startswith(("/", "./", "~")):
        return None, text
    bare = text.rsplit("@", 1)[-1]
    return _host_port(bare.split("/", 1)[0]), bare


def _split_url(text: str, purpose: str) -> tuple[str | None, str]:
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:  # e.g. brackets around something that is not an IP address
        return None, text
    netloc = parts.netloc.rsplit("@", 1)[-1]  # drop user:password
    path = parts.path
    if purpose == "webhook" and path not in ("", "/"):
        path = "/…"  # webhook paths often carry tokens
    return host, f"{parts.scheme}://{netloc}{path}"


def _host_port(text: str) -> str | None:
    text = text.rsplit("@", 1)[-1]
    if text.startswith("["):
        return text[1:].split("]", 1)[0] or None
    if text.count(":") > 1:  # a bare IPv6 address
        return text
    return text.split(":", 1)[0] or None


_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*")


def valid_host(host: str) -> bool:
    """A DNS name (letters, digits, - and _ labels) or an IP address."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST.fullmatch(host))


def is_private(ip: IPAddress) -> bool:
    """Loopback, RFC 1918, CGNAT, link-local, ULA: never a public endpoint."""
    return (ip.is_private or ip.is_loopback or ip.is_link_local
            or ip in ipaddress.ip_network("100.64.0.0/10"))


def match_known(target: Target, known: tuple[KnownEndpoint, ...]) -> KnownEndpoint | None:
    """The catalogue entry for a host name (exact, or under a domain) or an IP range."""
    if target.host is None:
        return None
    for entry in known:
        if target.ip is not None:
            if any(target.ip in net for net in entry.networks):
                return entry
        elif target.host in entry.hosts or any(
                target.host == d or target.host.endswith("." + d) for d in entry.domains):
            return entry
    return None


def match_declared(target: Target, raw_value: str, declared: dict[str, dict]) -> dict | None:
    """An operator's own declaration in ``sov_endpoint_locations``: value, host, IP or CIDR."""
    for key in (raw_value.strip(), target.display, target.host):
        if key in declared:
            return declared[key]
    if target.ip is None:
        return None
    for key, entry in declared.items():
        try:
            if target.ip in ipaddress.ip_network(key, strict=False):
                return entry
        except ValueError:
            continue
    return None
