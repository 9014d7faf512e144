"""A partial deploy never closes a service (issue 20).

On the converged sandbox, with the fact cache deleted and from another working
directory, `sovctl deploy --service coturn` and then the plain-Ansible path
(`ansible-playbook coturn.yml firewall.yml`, what AWX runs) must leave every host's
nftables ruleset byte-identical, and every public port of every service answering:
HTTPS on each edge, LiveKit's signalling over wss and its RTC TCP port, TURN over UDP
and TLS. A firewall run that would shut listening services (a registry with only the
baseline's ports) is refused before loading, naming host, port and process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from sovctl.paths import project_root, state_dir
from sovctl.probes import context

SOVCTL = [sys.executable, "-m", "sovctl"]
ROOT = project_root()


def inventory() -> Path:
    return Path(context.inventory_path())


def rulesets() -> dict[str, str]:
    """sha256 of each host's live ruleset and of its /etc/nftables.conf."""
    out = {}
    for name in sorted(context.inventory().hosts):
        host = context.testinfra_host(name)
        live = host.check_output("nft list ruleset")
        conf = host.file("/etc/nftables.conf").content_string
        out[name] = hashlib.sha256((live + "\0" + conf).encode()).hexdigest()
    return out


def _tls(address: str, port: int) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(inventory() / ".sovctl-ca" / "ca.crt"))
    ctx.check_hostname = False  # the sandbox's certificates name addresses; reachability here
    raw = socket.create_connection((address, port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=address)


def _http_status(address: str, path: str, headers: str = "") -> str:
    with _tls(address, 443) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {address}\r\n{headers}"
                     "Connection: close\r\n\r\n".encode())
        return conn.recv(200).decode(errors="replace").split("\r\n", 1)[0]


def _stun_binding(address: str, port: int) -> bool:
    """A STUN Binding request (RFC 5389) over UDP; True when coturn answers."""
    txid = os.urandom(12)
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + txid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        for _ in range(3):
            sock.sendto(request, (address, port))
            try:
                data, _ = sock.recvfrom(2048)
            except TimeoutError:
                continue
            return data[:2] == b"\x01\x01" and data[8:20] == txid
    return False


def public_ports_answer() -> list[str]:
    """Every public port of every service, probed as its clients reach it: what failed."""
    failed = []
    for host in context.hosts("edge"):
        address = context.address_of(host.name)
        try:
            status = _http_status(address, "/")
            if not status.startswith("HTTP/1.1 "):
                failed.append(f"{host.name} HTTPS: {status!r}")
        except OSError as exc:
            failed.append(f"{host.name} HTTPS: {exc}")
    for host in context.hosts("conferencing"):
        address = context.address_of(host.name)
        try:  # the WebSocket upgrade LiveKit's SDK opens; without a token LiveKit says 401
            status = _http_status(address, "/rtc", "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: c292Y3RsIHBhcnRpYWwgZA==\r\n"
                                  "Sec-WebSocket-Version: 13\r\n")
            if not status.startswith(("HTTP/1.1 101", "HTTP/1.1 401")):
                failed.append(f"{host.name} LiveKit wss: {status!r}")
        except OSError as exc:
            failed.append(f"{host.name} LiveKit wss: {exc}")
        try:
            socket.create_connection((address, 7881), timeout=10).close()
        except OSError as exc:
            failed.append(f"{host.name} LiveKit RTC 7881/tcp: {exc}")
    for host in context.hosts("turn"):
        address = context.address_of(host.name)
        if not _stun_binding(address, 3478):
            failed.append(f"{host.name} TURN 3478/udp: no STUN answer")
        try:
            _tls(address, 5349).close()
        except OSError as exc:
            failed.append(f"{host.name} TURNS 5349/tcp: {exc}")
    return failed


def forget_facts() -> None:
    """Remove every fact cache a run may use (sovctl's, plain Ansible's in the project)."""
    for path in (state_dir(inventory()) / "facts", ROOT / ".sovctl" / "facts"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def before():
    failed = public_ports_answer()
    assert not failed, failed
    return rulesets()


def _vault_file() -> str:
    return os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE") or str(inventory() / ".vault-pass")


def test_sovctl_deploy_of_one_service_without_facts_keeps_every_service_open(before, tmp_path):
    forget_facts()
    run = subprocess.run([*SOVCTL, "deploy", "-i", str(inventory()), "--service", "coturn"],
                         capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert rulesets() == before
    assert public_ports_answer() == []
    # Its run record is kept with the inventory's state, not in the working directory.
    assert not (tmp_path / ".sovctl").exists()
    assert list((state_dir(inventory()) / "runs").glob("*.json"))


def test_plain_ansible_playbook_of_one_service_keeps_every_service_open(before):
    forget_facts()
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory()),
         "--vault-password-file", _vault_file(),
         str(ROOT / "playbooks" / "coturn.yml"), str(ROOT / "playbooks" / "firewall.yml")],
        capture_output=True, text=True, timeout=1200, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert rulesets() == before
    assert public_ports_answer() == []


def test_a_ruleset_that_would_shut_listening_services_is_refused(before):
    """As if every service role had published nothing: the guard on each host refuses."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory()),
         "--vault-password-file", _vault_file(), "-e",
         json.dumps({"sov_publishers": [{"group": "all", "role": "common"}]}),
         str(ROOT / "playbooks" / "firewall.yml")],
        capture_output=True, text=True, timeout=1200, cwd=ROOT, env=env)
    out = run.stdout
    assert run.returncode != 0, out[-4000:]
    turn = context.hosts("turn")[0].name
    edge = context.hosts("edge")[0].name
    assert f"The new firewall ruleset of {turn} would close" in out, out[-4000:]
    assert "3478/udp (turnserver" in out, out[-4000:]
    assert f"The new firewall ruleset of {edge} would close" in out, out[-4000:]
    assert "443/tcp (nginx" in out and "firewall_close_ports" in out, out[-4000:]
    assert rulesets() == before
    assert public_ports_answer() == []
