"""What the Collabora checks use to reach and read the deployment: its hosts (through
podman where the test host is a container), the settings sovctl renders for coolwsd,
HTTP and websocket requests through the nginx edge, and the small scripts they run on
the office host.

Not a test module: the checks in ``collabora.py`` call these. Nothing here reads the
inventory or a host at import time.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlsplit

from sovctl.probes import context

ALIAS_GROUPS = "/config/storage/wopi/alias_groups"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def office_host(name: str):
    """A podman test host through `podman exec`; any other host as the other checks reach it.

    (testinfra's ansible backend does not know the podman connection and would run one
    ad-hoc Ansible command per check.)
    """
    inv_host = context.inventory().hosts[name]
    if str(inv_host.vars.get("ansible_connection", "")).rsplit(".", 1)[-1] == "podman":
        import testinfra

        return testinfra.get_host(f"podman://{inv_host.vars.get('ansible_host') or name}")
    return context.testinfra_host(name)


def office_address(name: str, host) -> str:
    """The address clients use: ansible_host when it is an address, else the host's own."""
    candidate = str(context.inventory().hosts[name].vars.get("ansible_host") or "")
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return host.check_output("hostname -I").split()[0]


class Rendered:
    """The rendered settings file: values by XPath, attributes, alias groups."""

    def __init__(self, text: str):
        self.root = ET.fromstring(text)  # noqa: S314 - our own file, read from our test host
        self.values: dict[str, str] = {}
        self.attrs: dict[tuple[str, str], str] = {}
        for el in self.root.iter("setting"):
            if el.get("attribute"):
                self.attrs[(el.get("xpath"), el.get("attribute"))] = el.text or ""
            elif el.get("secret") != "true":
                self.values[el.get("xpath")] = el.text or ""
        children = [c for c in self.root.iter("children") if c.get("xpath") == ALIAS_GROUPS]
        self.groups = [{"url": g.findtext("host"), "allow": g.find("host").get("allow"),
                        "aliases": [a.text for a in g.findall("alias")]}
                       for g in (children[0].findall("group") if children else [])]


# --------------------------------------------------------------------------
# Requests through the nginx edge


def edge_get(office, path: str, **kw):
    import requests

    kw.setdefault("allow_redirects", False)
    return requests.get(f"{office['base']}{path}", verify=office["verify"], timeout=10, **kw)


def ws_path(wopi_src: str) -> str:
    return f"/cool/{quote(wopi_src, safe='')}/ws?WOPISrc={quote(wopi_src, safe='')}&compat=/ws"


def wopi_src(origin: str) -> str:
    return f"{origin}/wopi/files/sovctl-check"


def upgrade_headers() -> dict[str, str]:
    """The headers of a websocket handshake, with a fresh key."""
    return {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode()}


def header_fields(lines: list[str]) -> dict[str, str]:
    """The header fields of an HTTP head's lines (after its first), by lower-case name."""
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def open_websocket(office, wopi_src: str, wait_s: float = 10.0):
    """Open a websocket to coolwsd through nginx; return (status, text frames, close code)."""
    ctx = ssl.create_default_context(cadata=office["ca"]) if office["ca"] else \
        ssl.create_default_context()
    ctx.check_hostname = False
    split = urlsplit(office["base"])
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    request = (f"GET {ws_path(wopi_src)} HTTP/1.1\r\nHost: {split.netloc}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Key: {key}\r\nOrigin: {urlsplit(wopi_src).scheme}://"
               f"{urlsplit(wopi_src).netloc}\r\n\r\n")
    frames, close_code = [], None
    with socket.create_connection((office["address"], split.port or 443), timeout=wait_s) as raw, \
            ctx.wrap_socket(raw) as tls:
        tls.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = tls.recv(4096)
            if not chunk:
                break
            head += chunk
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        if status != 101:
            return status, frames, close_code
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode(),
                                               usedforsecurity=False).digest()).decode()
        head_text, _, buf = head.partition(b"\r\n\r\n")
        fields = header_fields(head_text.decode().split("\r\n")[1:])
        assert fields.get("sec-websocket-accept") == accept, "not a websocket handshake"
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and close_code is None:
            while len(buf) >= 2:
                length, offset = buf[1] & 0x7F, 2
                if length == 126:
                    length, offset = int.from_bytes(buf[2:4], "big"), 4
                elif length == 127:
                    length, offset = int.from_bytes(buf[2:10], "big"), 10
                if len(buf) < offset + length:
                    break
                opcode, payload = buf[0] & 0x0F, buf[offset:offset + length]
                buf = buf[offset + length:]
                if opcode == 0x1:
                    frames.append(payload.decode(errors="replace"))
                elif opcode == 0x8:
                    close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if close_code is not None or any("unauthorized" in f for f in frames):
                break
            try:
                tls.settimeout(max(0.1, deadline - time.monotonic()))
                chunk = tls.recv(65536)
            except (TimeoutError, ssl.SSLError):
                break
            if not chunk:
                break
            buf += chunk
    return status, frames, close_code


# --------------------------------------------------------------------------
# Scripts run on the office host

# A stand-in upstream that only records what nginx sends it and answers 503: it lets the
# checks observe nginx's websocket handling where coolwsd is not installed. It is not
# Collabora Online and never claims to be.
HEADER_PROBE = r"""
import socket, sys
host, port, out, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, port))
srv.listen(8)
srv.settimeout(25)
body = b"sovctl header probe: not Collabora Online\n"
with open(out, "wb") as fh:
    for _ in range(count):
        try:
            conn, _ = srv.accept()
        except OSError:
            break
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        fh.write(data.split(b"\r\n\r\n")[0] + b"\r\n\r\n")
        fh.flush()
        conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        conn.close()
"""


def probed_heads(raw: str) -> dict[str, dict[str, str]]:
    """Request heads recorded by HEADER_PROBE, by request path."""
    found = {}
    for block in raw.split("\r\n\r\n"):
        lines = block.strip("\r\n").split("\r\n")
        if not lines or " " not in lines[0]:
            continue
        found[lines[0].split(" ")[1]] = header_fields(lines[1:])
    return found


# HTTP status of a Basic-auth GET, run on the office host (coolwsd listens on its loopback).
BASIC_AUTH_STATUS = """
import base64, sys, urllib.error, urllib.request
req = urllib.request.Request(sys.argv[1])
req.add_header("Authorization", "Basic " + base64.b64encode(sys.argv[2].encode()).decode())
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
"""
