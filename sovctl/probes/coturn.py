"""coturn, probed as WebRTC clients use it: REST-API credentials, relay, TLS, peer safety."""

from __future__ import annotations

import re
import socket
import ssl
import uuid
from dataclasses import dataclass, field

from sovctl.probes import Failed, Run, Skipped, Suite, context, expect
from sovctl.probes.turnclient import allocate, rest_credentials

PEER_PORT = 3480

suite = Suite("coturn", "turn", doc=__doc__)


class Secret(str):
    """A secret that never shows in a result's evidence or a failure report."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<secret>'"


@dataclass(frozen=True)
class Client:
    """The host that plays TURN client and relay peer."""

    host: object
    address: str
    designated: bool


@dataclass(frozen=True)
class Turn:
    name: str
    host: object = field(repr=False)
    address: str
    secret: Secret = field(repr=False)
    port: int
    tls_port: int
    allowed: tuple[str, ...]
    run: Run = field(repr=False, compare=False)

    @property
    def client(self) -> Client:
        return self.run.once("coturn.client", client)


def client() -> Client:
    """A host of group ``turn_probe`` is by definition one of coturn_allowed_peer_ips (the
    role of a media server); otherwise this machine, when it has turnutils."""
    probes = context.hosts("turn_probe")
    if probes:
        return Client(context.testinfra_host(probes[0].name),
                      context.address_of(probes[0].name), True)
    import testinfra

    local = testinfra.get_host("local://")
    if not local.exists("turnutils_uclient"):
        raise Skipped("turnutils_uclient is not installed here (apt install coturn)")
    return Client(local, local.check_output("hostname -I").split()[0], False)


@suite.subject
def turn(run: Run, name: str) -> Turn:
    inv_host = context.inventory().hosts[name]
    secret = context.resolve(inv_host, "coturn_static_auth_secret") or context.resolve(
        inv_host, "vault_coturn_static_auth_secret")
    expect(secret, f"no coturn secret for {name} in the inventory")
    return Turn(name=name, host=context.testinfra_host(name), address=context.address_of(name),
                secret=Secret(secret), port=int(inv_host.vars.get("coturn_listening_port", 3478)),
                tls_port=int(inv_host.vars.get("coturn_tls_listening_port", 5349)),
                allowed=tuple(str(x) for x in inv_host.vars.get("coturn_allowed_peer_ips") or []
                              if "{{" not in str(x)),
                run=run)


def uclient(probe: Client, turn: Turn, peer: str, extra: str = ""):
    """turnutils_uclient from ``probe`` through ``turn`` to ``peer``, 20 messages."""
    # A fresh user each time: allocations count against coturn_user_quota until they expire.
    user, pw = rest_credentials(turn.secret, user=f"check-{uuid.uuid4().hex[:8]}")
    if "-t" not in extra.split():
        # Over UDP uclient waits its whole timeout for a server that is down: ask first.
        try:
            allocate(turn.address, turn.port, user, pw, timeout=3)
        except OSError as exc:
            raise Failed(f"coturn on {turn.name} ({turn.address}:{turn.port}/udp) does not "
                         f"answer a TURN allocation within 3 s: {exc}") from exc
    # turnutils_uclient exits 255 when coturn refuses; testinfra's SSH backend takes 255
    # for a lost connection and raises, so a refusal is reported as 254.
    cmd = (f"timeout 40 turnutils_uclient -n 20 -m 1 -l 120 -e {peer} -r {PEER_PORT} "
           f"-u '{user}' -w '{pw}' {extra} {turn.address}; "
           "rc=$?; [ $rc -eq 255 ] && exit 254; exit $rc")
    return probe.host.run(cmd)


def start_peer(probe: Client) -> None:
    """A fresh turnutils_peer (UDP echo, 60 s) on the probe host. The pattern's [t] keeps
    pkill from matching the remote shell that runs it (over SSH, that ends the session)."""
    h = probe.host
    h.run(f"pkill -f '[t]urnutils_peer -L {probe.address}' || true")
    h.run(f"nohup timeout 60 turnutils_peer -L {probe.address} -p {PEER_PORT} "
          ">/dev/null 2>&1 &")


def relay_totals(probe: Client, turn: Turn, extra: str = "") -> tuple[int, int, str]:
    """Messages sent and echoed back through a relay to a fresh peer, and the client's
    output; (0, 0, output) when the client reported no totals."""
    start_peer(probe)
    result = uclient(probe, turn, probe.address, extra)
    out = result.stdout + result.stderr
    totals = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$", out, re.M)
    expect(result.rc == 0, f"turnutils_uclient exited {result.rc}:\n{out[-2000:]}")
    expect(totals, f"turnutils_uclient reported no totals:\n{out[-2000:]}")
    sent, received = map(int, totals[-1])
    return sent, received, out


@suite.probe
def coturn_is_running_and_enabled(turn: Turn) -> str:
    svc = turn.host.service("coturn")
    expect(svc.is_running, f"coturn is not running on {turn.name}")
    expect(svc.is_enabled, f"coturn is not enabled on {turn.name}")
    return "coturn.service running and enabled"


@suite.probe
def secret_file_is_not_world_readable(turn: Turn) -> str:
    conf = turn.host.file("/etc/turnserver.conf")
    expect(conf.mode & 0o007 == 0, f"/etc/turnserver.conf has mode {conf.mode:o}")
    expect(conf.user == "root", f"/etc/turnserver.conf is owned by {conf.user}")
    return f"/etc/turnserver.conf mode {conf.mode:o}, owner root"


@suite.probe(params={"udp": {"extra": ""}, "tcp": {"extra": "-t"},
                     "tls": {"extra": "-t -S -p {tls_port}"}})
def relay_reaches_allowed_peer(turn: Turn, extra: str) -> str:
    """An allocation with REST credentials relays data to the peer and back."""
    probe = turn.client
    if (not probe.designated and probe.address not in turn.allowed
            and context.is_private(probe.address)):
        raise Skipped(f"probe {probe.address} is not in coturn_allowed_peer_ips")
    sent, received, _ = relay_totals(probe, turn, extra.format(tls_port=turn.tls_port))
    # The relay-to-peer leg is UDP whatever the client's transport: on a loaded host a few
    # datagrams may drop; a relay that does not work echoes nothing.
    expect(sent > 0 and received >= 0.8 * sent, f"sent {sent}, echoed back {received}")
    return f"relayed to {probe.address}: sent {sent}, echoed back {received}"


@suite.probe
def valid_credentials_allocate(turn: Turn) -> str:
    user, pw = rest_credentials(turn.secret)
    answer = allocate(turn.address, turn.port, user, pw)
    expect(answer == (200, ""), f"Allocate with valid REST credentials answered {answer}")
    return "Allocate with REST credentials: 200"


@suite.probe(params={case: {"case": case}
                     for case in ("wrong-password", "expired", "wrong-secret")})
def bad_credentials_are_rejected_with_401(turn: Turn, case: str) -> str:
    if case == "wrong-password":
        user, _ = rest_credentials(turn.secret)
        pw = "not-the-password"
    elif case == "expired":
        user, pw = rest_credentials(turn.secret, ttl=-60)
    else:
        user, pw = rest_credentials("some-other-secret-of-32-characters!!")
    code, reason = allocate(turn.address, turn.port, user, pw)
    expect(code == 401, f"Allocate with {case} credentials answered {code} {reason}")
    return f"Allocate with {case} credentials: 401 {reason}"


@suite.probe(params={"127.0.0.1": {"target": "127.0.0.1"},
                     "169.254.169.254": {"target": "169.254.169.254"},
                     "private-not-allowed": {"target": ""}})
def relay_to_forbidden_address_is_refused(turn: Turn, target: str) -> str:
    if not target:
        # The TURN host's own address: one of our test hosts, private, not allowed.
        target = turn.address
        if not context.is_private(target) or target in turn.allowed:
            raise Skipped(f"{target} is not a private address outside coturn_allowed_peer_ips")
    result = uclient(turn.client, turn, target)
    out = result.stdout + result.stderr
    expect(result.rc != 0, f"a relay to {target} was allowed:\n{out[-2000:]}")
    expect("403 (Forbidden IP)" in out, f"no 403 (Forbidden IP) for {target}:\n{out[-2000:]}")
    return f"relay to {target}: 403 (Forbidden IP)"


def _tls_handshake(address: str, port: int, version: ssl.TLSVersion, timeout=5.0) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the certificate is checked in its own probe
    ctx.set_ciphers("ALL:@SECLEVEL=0")  # let the client offer old protocols: the server decides
    ctx.minimum_version = version
    ctx.maximum_version = version
    with socket.create_connection((address, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw) as tls:
        return tls.version()


@suite.probe
def tls_1_2_handshake_completes(turn: Turn) -> str:
    got = _tls_handshake(turn.address, turn.tls_port, ssl.TLSVersion.TLSv1_2)
    expect(got == "TLSv1.2", f"a TLS 1.2 hello to port {turn.tls_port} gave {got}")
    return f"TLS 1.2 handshake on port {turn.tls_port}"


@suite.probe(params={"tls1.0": {"version": ssl.TLSVersion.TLSv1},
                     "tls1.1": {"version": ssl.TLSVersion.TLSv1_1}})
def tls_refuses_old_protocols(turn: Turn, version: ssl.TLSVersion) -> str:
    """The client offers only the old protocol; the server must not complete a handshake."""
    try:
        got = _tls_handshake(turn.address, turn.tls_port, version, timeout=3)
    except ssl.SSLError as exc:
        expect(exc.reason != "NO_PROTOCOLS_AVAILABLE", "this client cannot offer " + version.name)
        return f"{version.name} refused with an alert ({exc.reason})"
    except (ConnectionResetError, TimeoutError):
        return f"{version.name} refused (connection closed or hello ignored)"
    raise Failed(f"the server completed a {got} handshake")


@suite.probe
def tls_certificate_verifies_against_the_deployment_ca(turn: Turn) -> str:
    ca = turn.host.file(context.CA_PATH)
    if not ca.exists:
        raise Skipped("no internal CA on the host (tls_mode external): checked by the ACME "
                      "client")
    ctx = ssl.create_default_context(cadata=ca.content_string)
    ctx.check_hostname = False  # test hosts are reached by address; SAN checked below
    with socket.create_connection((turn.address, turn.tls_port), timeout=5) as raw, \
            ctx.wrap_socket(raw) as tls:
        cert = tls.getpeercert()
    sans = {v for _k, v in cert.get("subjectAltName", ())}
    expect(turn.name in sans or turn.address in sans,
           f"the certificate names {sorted(sans)}, neither {turn.name} nor {turn.address}")
    return f"certificate chains to the deployment CA, SAN {sorted(sans)}"
