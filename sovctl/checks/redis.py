"""Redis, checked as a client on the network would meet it: password, private binding, ACL."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

from sovctl.checks import context

HAS_INVENTORY = bool(os.environ.get("SOVCTL_VERIFY_INVENTORY")
                     or os.environ.get("MOLECULE_INVENTORY_FILE"))
REDIS_HOSTS = [h.name for h in context.hosts("redis")] if HAS_INVENTORY else []
pytestmark = pytest.mark.skipif(not REDIS_HOSTS, reason="no host in group 'redis'")


# ---------------------------------------------------------------- a minimal RESP client

def connect(address: str, port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((address, port), timeout=timeout)


def _encode(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_line(reader) -> bytes:
    line = reader.readline()
    if not line:
        raise ConnectionError("the server closed the connection")
    return line.rstrip(b"\r\n")


def _read(reader):
    line = _read_line(reader)
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = reader.read(size + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        return [_read(reader) for _ in range(max(int(rest), 0))]
    raise ValueError(f"unexpected reply {line!r}")


class RedisError(str):
    """An error reply (-ERR, -NOAUTH, -WRONGPASS, -NOPERM ...)."""


def command(sock: socket.socket, *args: str):
    sock.sendall(_encode(*args))
    reader = sock.makefile("rb")
    try:
        return _read(reader)
    finally:
        reader.close()


# ---------------------------------------------------------------- deployment facts

def redis_target(inv_host) -> dict:
    """Where a LiveKit node (or any client) reaches Redis, and with which password."""
    address = context.resolve(inv_host, "livekit_redis_address") or ""
    if address and "{{" not in address:
        host, _, port = address.rpartition(":")
    else:
        redis_hosts = context.hosts("redis")
        assert redis_hosts, "no host in group 'redis' and no livekit_redis_address"
        host = context.address_of(redis_hosts[0].name)
        port = redis_hosts[0].vars.get("redis_port", 6379)
    password = (context.resolve(inv_host, "redis_password")
                or context.resolve(inv_host, "livekit_redis_password")
                or context.resolve(inv_host, "vault_redis_password"))
    assert password, "no Redis password in the inventory"
    return {"address": host, "port": int(port), "password": str(password)}


@pytest.fixture(scope="module", params=REDIS_HOSTS)
def redis(request):
    inv_host = context._inventory().hosts[request.param]
    password = (context.resolve(inv_host, "redis_password")
                or context.resolve(inv_host, "vault_redis_password"))
    assert password, f"no Redis password for {request.param} in the inventory"
    return {"name": request.param, "host": context.testinfra_host(request.param),
            "address": context.address_of(request.param),
            "port": int(inv_host.vars.get("redis_port", 6379)), "password": str(password)}


# ---------------------------------------------------------------- the checks

def test_redis_is_running_and_enabled(redis):
    out = redis["host"].run("systemctl is-active redis-server; systemctl is-enabled redis-server")
    assert out.stdout.split() == ["active", "enabled"], out.stdout


def test_listens_on_private_addresses_only(redis):
    out = redis["host"].check_output("ss -Hltn")
    listening = {line.split()[3].rsplit(":", 1)[0].strip("[]")
                 for line in out.splitlines()
                 if line.strip() and line.split()[3].endswith(f":{redis['port']}")}
    assert listening, "Redis does not listen"
    assert "*" not in listening, listening
    assert all(context.is_private(a) and not ipaddress.ip_address(a).is_unspecified
               for a in listening), listening


def test_password_is_required(redis):
    with connect(redis["address"], redis["port"]) as sock:
        reply = command(sock, "PING")
    assert isinstance(reply, RedisError) and reply.startswith("NOAUTH"), reply


def test_wrong_password_is_refused(redis):
    with connect(redis["address"], redis["port"]) as sock:
        reply = command(sock, "AUTH", "not-the-password-of-this-redis")
    assert isinstance(reply, RedisError) and reply.startswith("WRONGPASS"), reply


def test_password_opens_data_commands_but_not_dangerous_ones(redis):
    with connect(redis["address"], redis["port"]) as sock:
        assert command(sock, "AUTH", redis["password"]) == "OK"
        assert command(sock, "PING") == "PONG"
        assert command(sock, "SET", "sovctl:check", "1", "EX", "10") == "OK"
        for dangerous in (("FLUSHALL",), ("CONFIG", "GET", "requirepass"), ("KEYS", "*"),
                          ("CLIENT", "LIST"), ("ACL", "LIST")):
            reply = command(sock, *dangerous)
            assert isinstance(reply, RedisError) and reply.startswith("NOPERM"), (dangerous,
                                                                                  reply)


def test_password_is_not_stored_in_clear(redis):
    out = redis["host"].check_output("stat -c %a /etc/redis/redis.conf; cat /etc/redis/redis.conf")
    mode, _, text = out.partition("\n")
    assert int(mode, 8) & 0o007 == 0
    assert redis["password"] not in text
    assert "requirepass" not in text
