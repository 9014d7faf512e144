"""A minimal TURN (RFC 5766) client: one Allocate with long-term credentials.

Used to read the exact STUN error code (401, 403, 438) that coturn's own
turnutils_uclient does not print.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import socket
import struct
import time

MAGIC = 0x2112A442
ALLOCATE, REFRESH = 0x0003, 0x0004
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE = 0x0006, 0x0008, 0x0009
REALM, NONCE, REQUESTED_TRANSPORT, LIFETIME = 0x0014, 0x0015, 0x0019, 0x000D
UDP = 17


def rest_credentials(secret: str, user: str = "sovctl-check", ttl: int = 600,
                     now: float | None = None) -> tuple[str, str]:
    """TURN REST API credentials: username ``expiry:user``, password base64(HMAC-SHA1)."""
    username = f"{int((now or time.time()) + ttl)}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def _attr(kind: int, value: bytes) -> bytes:
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * pad


def _message(method: int, txid: bytes, attrs: bytes, key: bytes | None = None) -> bytes:
    if key is None:
        return struct.pack("!HHI", method, len(attrs), MAGIC) + txid + attrs
    length = len(attrs) + 24  # the MESSAGE-INTEGRITY attribute counts in the length
    head = struct.pack("!HHI", method, length, MAGIC) + txid + attrs
    mac = hmac.new(key, head, hashlib.sha1).digest()
    return head + _attr(MESSAGE_INTEGRITY, mac)


def _parse(data: bytes) -> tuple[int, dict[int, bytes]]:
    msg_type, length, _magic = struct.unpack("!HHI", data[:8])
    attrs, pos = {}, 20
    while pos + 4 <= 20 + length:
        kind, size = struct.unpack("!HH", data[pos:pos + 4])
        attrs.setdefault(kind, data[pos + 4:pos + 4 + size])
        pos += 4 + size + (4 - size % 4) % 4
    return msg_type, attrs


def _error(attrs: dict[int, bytes]) -> tuple[int, str]:
    raw = attrs.get(ERROR_CODE, b"\0\0\0\0")
    return (raw[2] & 0x7) * 100 + raw[3], raw[4:].decode(errors="replace")


def allocate(host: str, port: int, username: str, password: str,
             timeout: float = 3.0) -> tuple[int, str]:
    """Try one UDP allocation; returns (200, "") on success or (STUN error code, reason)."""
    transport = _attr(REQUESTED_TRANSPORT, bytes([UDP, 0, 0, 0]))
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                       socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)

        def ask(msg: bytes) -> tuple[int, dict[int, bytes]]:
            sock.sendto(msg, (host, port))
            return _parse(sock.recv(2048))

        msg_type, attrs = ask(_message(ALLOCATE, os.urandom(12), transport))
        if msg_type != 0x0113 or _error(attrs)[0] != 401:
            return (200, "") if msg_type == 0x0103 else _error(attrs)
        realm, nonce = attrs[REALM], attrs[NONCE]
        key = hashlib.md5(username.encode() + b":" + realm + b":" + password.encode(),
                          usedforsecurity=False).digest()
        body = (transport + _attr(USERNAME, username.encode()) + _attr(REALM, realm)
                + _attr(NONCE, nonce))
        msg_type, attrs = ask(_message(ALLOCATE, os.urandom(12), body, key))
        if msg_type != 0x0103:
            return _error(attrs)
        # Release the allocation at once: a check must not hold server resources.
        release = (_attr(LIFETIME, b"\0\0\0\0") + _attr(USERNAME, username.encode())
                   + _attr(REALM, realm) + _attr(NONCE, nonce))
        with contextlib.suppress(TimeoutError):
            ask(_message(REFRESH, os.urandom(12), release, key))
        return 200, ""
