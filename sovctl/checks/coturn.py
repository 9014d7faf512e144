"""coturn, checked as WebRTC clients use it: REST-API credentials, relay, TLS, peer safety."""

from __future__ import annotations

import re
import socket
import ssl
import uuid

import pytest

from sovctl.checks import context
from sovctl.checks.turnclient import allocate, rest_credentials

PEER_PORT = 3480

TURN_HOSTS = context.host_names("turn")

pytestmark = pytest.mark.skipif(not TURN_HOSTS, reason="no host in group 'turn'")


class Secret(str):
    """A secret that never shows in pytest's failure reports (they print fixture values)."""

    def __repr__(self) -> str:
        return "'<secret>'"


@pytest.fixture(scope="module", params=TURN_HOSTS)
def turn(request):
    inv_host = context.inventory().hosts[request.param]
    secret = context.resolve(inv_host, "coturn_static_auth_secret") or context.resolve(
        inv_host, "vault_coturn_static_auth_secret")
    assert secret, f"no coturn secret for {request.param} in the inventory"
    return {
        "name": request.param,
        "host": context.testinfra_host(request.param),
        "address": context.address_of(request.param),
        "secret": Secret(secret),
        "port": int(inv_host.vars.get("coturn_listening_port", 3478)),
        "tls_port": int(inv_host.vars.get("coturn_tls_listening_port", 5349)),
        "allowed": [str(x) for x in inv_host.vars.get("coturn_allowed_peer_ips") or []
                    if "{{" not in str(x)],
    }


@pytest.fixture(scope="module")
def probe():
    """The host that plays TURN client and relay peer.

    A host of group ``turn_probe`` is by definition one of coturn_allowed_peer_ips
    (the role of a media server); otherwise this machine, when it has turnutils.
    """
    probes = context.hosts("turn_probe")
    if probes:
        return {"host": context.testinfra_host(probes[0].name),
                "address": context.address_of(probes[0].name), "designated": True}
    import testinfra

    local = testinfra.get_host("local://")
    if not local.exists("turnutils_uclient"):
        pytest.skip("turnutils_uclient is not installed here (apt install coturn)")
    return {"host": local, "address": local.check_output("hostname -I").split()[0],
            "designated": False}


def uclient(probe, turn, peer: str, extra: str = "", password: str | None = None,
            username: str | None = None):
    # A fresh user each time: allocations count against coturn_user_quota until they expire.
    user, pw = rest_credentials(turn["secret"], user=f"check-{uuid.uuid4().hex[:8]}")
    if "-t" not in extra.split():
        # Over UDP uclient waits its whole timeout for a server that is down: ask first.
        try:
            allocate(turn["address"], turn["port"], user, pw, timeout=3)
        except OSError as exc:
            pytest.fail(f"coturn on {turn['name']} ({turn['address']}:{turn['port']}/udp) "
                        f"does not answer a TURN allocation within 3 s: {exc}")
    # turnutils_uclient exits 255 when coturn refuses; testinfra's SSH backend takes 255
    # for a lost connection and raises, so a refusal is reported as 254.
    cmd = (f"timeout 40 turnutils_uclient -n 20 -m 1 -l 120 -e {peer} -r {PEER_PORT} "
           f"-u '{username or user}' -w '{password or pw}' {extra} {turn['address']}; "
           "rc=$?; [ $rc -eq 255 ] && exit 254; exit $rc")
    return probe["host"].run(cmd)


def start_peer(probe) -> None:
    """A fresh turnutils_peer (UDP echo, 60 s) on the probe host. The pattern's [t] keeps
    pkill from matching the remote shell that runs it (over SSH, that ends the session)."""
    h = probe["host"]
    h.run(f"pkill -f '[t]urnutils_peer -L {probe['address']}' || true")
    h.run(f"nohup timeout 60 turnutils_peer -L {probe['address']} -p {PEER_PORT} "
          ">/dev/null 2>&1 &")


def test_coturn_is_running_and_enabled(turn):
    svc = turn["host"].service("coturn")
    assert svc.is_running
    assert svc.is_enabled


def test_secret_file_is_not_world_readable(turn):
    conf = turn["host"].file("/etc/turnserver.conf")
    assert conf.mode & 0o007 == 0
    assert conf.user == "root"


@pytest.mark.parametrize("transport,extra", [
    ("udp", ""), ("tcp", "-t"), ("tls", "-t -S -p {tls_port}")])
def test_relay_reaches_allowed_peer(turn, probe, transport, extra):
    """An allocation with REST credentials relays data to the peer and back."""
    if (not probe["designated"] and probe["address"] not in turn["allowed"]
            and context.is_private(probe["address"])):
        pytest.skip(f"probe {probe['address']} is not in coturn_allowed_peer_ips")
    start_peer(probe)
    result = uclient(probe, turn, probe["address"], extra.format(**turn))
    out = result.stdout + result.stderr
    totals = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$", out, re.M)
    assert result.rc == 0, out[-2000:]
    assert totals, out[-2000:]
    sent, received = map(int, totals[-1])
    # The relay-to-peer leg is UDP whatever the client's transport: on a loaded host a few
    # datagrams may drop; a relay that does not work echoes nothing.
    assert sent > 0 and received >= 0.8 * sent, f"sent {sent}, echoed back {received}"


def test_valid_credentials_allocate(turn):
    user, pw = rest_credentials(turn["secret"])
    assert allocate(turn["address"], turn["port"], user, pw) == (200, "")


@pytest.mark.parametrize("case", ["wrong-password", "expired", "wrong-secret"])
def test_bad_credentials_are_rejected_with_401(turn, case):
    if case == "wrong-password":
        user, _ = rest_credentials(turn["secret"])
        pw = "not-the-password"
    elif case == "expired":
        user, pw = rest_credentials(turn["secret"], ttl=-60)
    else:
        user, pw = rest_credentials("some-other-secret-of-32-characters!!")
    code, _reason = allocate(turn["address"], turn["port"], user, pw)
    assert code == 401


def _forbidden_targets():
    return ["127.0.0.1", "169.254.169.254", "private-not-allowed"]


@pytest.mark.parametrize("target", _forbidden_targets())
def test_relay_to_forbidden_address_is_refused(turn, probe, target):
    if target == "private-not-allowed":
        # The TURN host's own address: one of our test hosts, private, not allowed.
        target = turn["address"]
        if not context.is_private(target) or target in turn["allowed"]:
            pytest.skip(f"{target} is not a private address outside coturn_allowed_peer_ips")
    result = uclient(probe, turn, target)
    out = result.stdout + result.stderr
    assert result.rc != 0, out[-2000:]
    assert "403 (Forbidden IP)" in out, out[-2000:]


def _tls_handshake(address: str, port: int, version: ssl.TLSVersion, timeout=5.0) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the certificate is checked in its own test
    ctx.set_ciphers("ALL:@SECLEVEL=0")  # let the client offer old protocols: the server decides
    ctx.minimum_version = version
    ctx.maximum_version = version
    with socket.create_connection((address, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw) as tls:
        return tls.version()


def test_tls_1_2_handshake_completes(turn):
    assert _tls_handshake(turn["address"], turn["tls_port"], ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1],
                         ids=["tls1.0", "tls1.1"])
def test_tls_refuses_old_protocols(turn, version):
    """The client offers only the old protocol; the server must not complete a handshake."""
    try:
        got = _tls_handshake(turn["address"], turn["tls_port"], version, timeout=3)
    except ssl.SSLError as exc:
        assert exc.reason != "NO_PROTOCOLS_AVAILABLE", "this client cannot offer " + version.name
        return  # refused with an alert
    except (ConnectionResetError, TimeoutError):
        return  # refused by closing or ignoring the hello
    pytest.fail(f"the server completed a {got} handshake")


def test_tls_certificate_verifies_against_the_deployment_ca(turn):
    ca = turn["host"].file("/etc/ssl/sovctl/ca.crt")
    if not ca.exists:
        pytest.skip("no internal CA on the host (tls_mode external): checked by the ACME client")
    ctx = ssl.create_default_context(cadata=ca.content_string)
    ctx.check_hostname = False  # test hosts are reached by address; SAN checked below
    with socket.create_connection((turn["address"], turn["tls_port"]), timeout=5) as raw, \
            ctx.wrap_socket(raw) as tls:
        cert = tls.getpeercert()
    sans = {v for _k, v in cert.get("subjectAltName", ())}
    assert turn["name"] in sans or turn["address"] in sans
