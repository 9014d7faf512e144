"""Exposure and hardening, measured from another host with real scanners.

nmap must find exactly the declared public TCP ports open on every host,
internal ports must be closed to hosts that are not their declared peers,
testssl.sh must find no old protocol, weak cipher or flagged vulnerability on
any TLS endpoint, and SSH must refuse passwords. Needs a host in group
``scanner`` (molecule's stack scenario) with nmap, testssl.sh and ssh.
"""

from __future__ import annotations

import json
import re

import pytest

from sovctl.probes import context

SCANNERS = context.host_names("scanner")
TARGETS = sorted({name for g in ("turn", "identity", "edge", "conferencing", "office")
                  for name in context.host_names(g)})
pytestmark = pytest.mark.skipif(not SCANNERS or not TARGETS,
                                reason="no host in group 'scanner' to scan from")


@pytest.fixture(scope="module")
def scanner():
    return context.testinfra_host(SCANNERS[0])


@pytest.fixture(scope="module", params=TARGETS)
def target(request):
    host = context.testinfra_host(request.param)
    declared = json.loads(host.file("/etc/sovctl/firewall-declared.json").content_string)
    return {"name": request.param, "host": host, "address": context.address_of(request.param),
            "declared": declared}


def _ports(spec) -> set[int]:
    text = str(spec)
    if "-" in text:
        low, high = map(int, text.split("-"))
        return set(range(low, high + 1))
    return {int(text)}


@pytest.fixture(scope="module")
def open_tcp_ports(scanner):
    """Every target's open TCP ports, from one nmap run over all of them.

    One scan of all targets at once (the rate scaled by their number) takes about as long
    as one target scanned alone: nmap spends a full port sweep waiting on the ports the
    firewalls drop, and those waits overlap across hosts."""
    addresses = {context.address_of(name): name for name in TARGETS}
    out = scanner.check_output(
        f"nmap -Pn -n -sS -p- --min-rate {3000 * len(addresses)} -T4 --open "
        f"--min-hostgroup {len(addresses)} -oG - {' '.join(sorted(addresses))}")
    found: dict[str, set[int]] = {name: set() for name in addresses.values()}
    for line in out.splitlines():
        match = re.match(r"Host: (\S+) .*Ports: (.*)", line)
        if match and match.group(1) in addresses:
            found[addresses[match.group(1)]] |= {
                int(p) for p in re.findall(r"(\d+)/open/tcp", match.group(2))}
    return found


def test_nmap_finds_exactly_the_declared_public_tcp_ports(open_tcp_ports, target):
    expected = set()
    for rule in target["declared"]:
        if rule.get("proto", "tcp") == "tcp" and rule.get("from", "any") == "any":
            expected |= _ports(rule["port"])
    found = open_tcp_ports[target["name"]]
    assert found == expected, f"open {sorted(found)}, declared {sorted(expected)}"


def test_restricted_ports_are_closed_to_other_hosts(scanner, target):
    restricted = sorted({p for rule in target["declared"] if rule.get("from", "any") != "any"
                         and rule.get("proto", "tcp") == "tcp" for p in _ports(rule["port"])})
    if not restricted:
        pytest.skip(f"{target['name']} declares no peer-only TCP port")
    ports = ",".join(map(str, restricted))
    out = scanner.check_output(f"nmap -Pn -n -sS -p {ports} -oG - {target['address']}")
    assert "/open/" not in out, out


def test_ssh_refuses_passwords(scanner, target):
    # The exit status travels in stdout: testinfra's SSH backend (the scanner reached
    # over SSH) takes a 255 for its own connection failing.
    result = scanner.run(
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        "-o PreferredAuthentications=password,keyboard-interactive -o ConnectTimeout=5 "
        f"root@{target['address']} true; echo \"ssh-exit=$?\"")
    assert "ssh-exit=255" in result.stdout, result.stdout + result.stderr
    assert "Permission denied (publickey)" in result.stderr, result.stderr


def tls_endpoints():
    endpoints = []
    for h in context.hosts("edge") if context.has_inventory() else []:
        endpoints.append((h.name, 443))
    for h in context.hosts("turn") if context.has_inventory() else []:
        endpoints.append((h.name, int(h.vars.get("coturn_tls_listening_port", 5349))))
    return endpoints


@pytest.fixture(scope="module")
def testssl_reports(scanner):
    """testssl.sh's findings for every TLS endpoint, the scans run side by side on the
    scanner: a scan waits mostly on its own handshakes, so all of them at once take about
    as long as the slowest (coturn's, about 45 s) instead of the sum (about two minutes)."""
    workdir = scanner.check_output("mktemp -d")
    scans = []
    for name, port in tls_endpoints():
        ca = context.testinfra_host(name).file("/etc/ssl/sovctl/ca.crt").content_string
        scanner.run(f"cat > {workdir}/{name}-ca.pem <<'EOF'\n{ca}EOF")
        scans.append(f"timeout 600 testssl --quiet --warnings off --color 0 "
                     f"--add-ca {workdir}/{name}-ca.pem -p -s -U "
                     f"--jsonfile {workdir}/{name}-{port}.json "
                     f"{context.address_of(name)}:{port} > {workdir}/{name}-{port}.log 2>&1 &")
    scanner.run(" ".join(scans) + " wait")
    return workdir


@pytest.mark.parametrize("name,port", tls_endpoints())
def test_testssl_finds_no_weakness(scanner, testssl_reports, name, port):
    report = scanner.file(f"{testssl_reports}/{name}-{port}.json")
    assert report.exists, scanner.run(f"tail -20 {testssl_reports}/{name}-{port}.log").stdout
    findings = json.loads(report.content_string)
    bad = [f for f in findings if f.get("severity") in ("MEDIUM", "HIGH", "CRITICAL")]
    offered_old = [f for f in findings if f["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
                   and "not offered" not in f.get("finding", "")]
    assert not offered_old, offered_old
    assert not bad, json.dumps(bad, indent=1)
