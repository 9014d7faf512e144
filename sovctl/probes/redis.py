"""Redis, probed as a client on the network would meet it: password, private binding, ACL."""

from __future__ import annotations

import inspect
import ipaddress
import json
import socket
from dataclasses import dataclass, field

from sovctl.probes import Run, Suite, context, expect

suite = Suite("redis", "redis", doc=__doc__)


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


# ---------------------------------------------------------------- from a peer host

_SESSION = """
import json, socket, sys
class RedisError(str):
    pass
{functions}
address, port, commands = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
out = []
with socket.create_connection((address, port), timeout=5) as sock:
    reader = sock.makefile("rb")
    for args in commands:
        sock.sendall(_encode(*args))
        reply = _read(reader)
        out.append({{"error": str(reply)}} if isinstance(reply, RedisError) else reply)
print(json.dumps(out))
"""


def session(peer, address: str, port: int, *commands: tuple[str, ...]) -> list:
    """Replies to ``commands`` sent on one connection made from the testinfra host ``peer``.

    The firewall admits Redis clients only from their declared peers (the LiveKit
    nodes), so the checks speak to Redis from such a host, as LiveKit does.
    """
    functions = "\n".join(inspect.getsource(f) for f in (_encode, _read_line, _read))
    script = _SESSION.format(functions=functions)
    out = peer.check_output("python3 -c %s %s %s %s", script, address, str(port),
                            json.dumps([list(c) for c in commands]))
    return [RedisError(r["error"]) if isinstance(r, dict) and "error" in r else r
            for r in json.loads(out)]


def peer_host():
    """A declared Redis client: the first LiveKit node, else the Redis host itself."""
    peers = context.hosts("conferencing") or context.hosts("redis")
    return context.testinfra_host(peers[0].name)


# ---------------------------------------------------------------- deployment facts

def redis_target(inv_host) -> dict:
    """Where a LiveKit node (or any client) reaches Redis, and with which password."""
    address = context.resolve(inv_host, "livekit_redis_address") or ""
    if address and "{{" not in address:
        host, _, port = address.rpartition(":")
    else:
        redis_hosts = context.hosts("redis")
        expect(redis_hosts, "no host in group 'redis' and no livekit_redis_address")
        host = context.address_of(redis_hosts[0].name)
        port = redis_hosts[0].vars.get("redis_port", 6379)
    password = (context.resolve(inv_host, "redis_password")
                or context.resolve(inv_host, "livekit_redis_password")
                or context.resolve(inv_host, "vault_redis_password"))
    expect(password, "no Redis password in the inventory")
    return {"address": host, "port": int(port), "password": str(password)}


@dataclass(frozen=True)
class Redis:
    name: str
    host: object = field(repr=False)
    peer: object = field(repr=False)
    address: str
    port: int
    password: str = field(repr=False)


@suite.subject
def redis(run: Run, name: str) -> Redis:
    inv_host = context.inventory().hosts[name]
    password = (context.resolve(inv_host, "redis_password")
                or context.resolve(inv_host, "vault_redis_password"))
    expect(password, f"no Redis password for {name} in the inventory")
    return Redis(name, context.testinfra_host(name), run.once("redis.peer", peer_host),
                 context.address_of(name), int(inv_host.vars.get("redis_port", 6379)),
                 str(password))


# ---------------------------------------------------------------- the probes

@suite.probe
def redis_is_running_and_enabled(redis: Redis) -> str:
    out = redis.host.run("systemctl is-active redis-server; systemctl is-enabled redis-server")
    expect(out.stdout.split() == ["active", "enabled"], f"redis-server: {out.stdout.split()}")
    return "redis-server active and enabled"


@suite.probe
def listens_on_private_addresses_only(redis: Redis) -> str:
    out = redis.host.check_output("ss -Hltn")
    listening = {line.split()[3].rsplit(":", 1)[0].strip("[]")
                 for line in out.splitlines()
                 if line.strip() and line.split()[3].endswith(f":{redis.port}")}
    expect(listening, "Redis does not listen")
    expect("*" not in listening and all(
        context.is_private(a) and not ipaddress.ip_address(a).is_unspecified
        for a in listening), f"Redis listens on {sorted(listening)}")
    return f"listens on {sorted(listening)} port {redis.port}"


@suite.probe
def password_is_required(redis: Redis) -> str:
    (reply,) = session(redis.peer, redis.address, redis.port, ("PING",))
    expect(isinstance(reply, RedisError) and reply.startswith("NOAUTH"),
           f"PING without a password answered {reply!r}")
    return f"PING without a password: {reply}"


@suite.probe
def wrong_password_is_refused(redis: Redis) -> str:
    (reply,) = session(redis.peer, redis.address, redis.port,
                       ("AUTH", "not-the-password-of-this-redis"))
    expect(isinstance(reply, RedisError) and reply.startswith("WRONGPASS"),
           f"AUTH with a wrong password answered {reply!r}")
    return f"AUTH with a wrong password: {reply}"


@suite.probe
def password_opens_data_commands_but_not_dangerous_ones(redis: Redis) -> str:
    dangerous = [("FLUSHALL",), ("CONFIG", "GET", "requirepass"), ("KEYS", "*"),
                 ("CLIENT", "LIST"), ("ACL", "LIST")]
    replies = session(redis.peer, redis.address, redis.port,
                      ("AUTH", redis.password), ("PING",),
                      ("SET", "sovctl:check", "1", "EX", "10"), *dangerous)
    expect(replies[:3] == ["OK", "PONG", "OK"], f"AUTH, PING, SET answered {replies[:3]}")
    for args, reply in zip(dangerous, replies[3:], strict=True):
        expect(isinstance(reply, RedisError) and reply.startswith("NOPERM"),
               f"{' '.join(args)} answered {reply!r}, not NOPERM")
    return "AUTH, PING, SET ok; " + ", ".join(a[0] for a in dangerous) + " refused (NOPERM)"


@suite.probe
def password_is_not_stored_in_clear(redis: Redis) -> str:
    out = redis.host.check_output("stat -c %a /etc/redis/redis.conf; cat /etc/redis/redis.conf")
    mode, _, text = out.partition("\n")
    expect(int(mode, 8) & 0o007 == 0, f"/etc/redis/redis.conf has mode {mode}")
    expect(redis.password not in text, "/etc/redis/redis.conf holds the password in clear")
    expect("requirepass" not in text, "/etc/redis/redis.conf sets requirepass")
    return f"/etc/redis/redis.conf mode {mode}, no password, no requirepass"
