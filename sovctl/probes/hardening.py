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
from dataclasses import dataclass, field

from sovctl.probes import Run, Skipped, Suite, context, expect

TARGET_GROUPS = ("turn", "identity", "edge", "conferencing", "office", "monitoring")


def targets() -> list[str]:
    """Every host of the groups that serve clients, when there is a scanner to scan from."""
    if not context.host_names("scanner"):
        return []
    return sorted({name for g in TARGET_GROUPS for name in context.host_names(g)})


suite = Suite("hardening", "scanner", doc=__doc__, targets=targets)


@dataclass(frozen=True)
class Target:
    name: str
    host: object = field(repr=False)
    address: str
    declared: list = field(repr=False)
    run: Run = field(repr=False)

    @property
    def scanner(self):
        return self.run.once("hardening.scanner", lambda: context.testinfra_host(
            context.host_names("scanner")[0]))


@suite.subject
def target(run: Run, name: str) -> Target:
    host = context.testinfra_host(name)
    declared = json.loads(host.file("/etc/sovctl/firewall-declared.json").content_string)
    return Target(name, host, context.address_of(name), declared, run)


def _ports(spec) -> set[int]:
    text = str(spec)
    if "-" in text:
        low, high = map(int, text.split("-"))
        return set(range(low, high + 1))
    return {int(text)}


def open_tcp_ports(scanner, names: list[str]) -> dict[str, set[int]]:
    """Every target's open TCP ports, from one nmap run over all of them.

    One scan of all targets at once (the rate scaled by their number) takes about as long
    as one target scanned alone: nmap spends a full port sweep waiting on the ports the
    firewalls drop, and those waits overlap across hosts."""
    addresses = {context.address_of(name): name for name in names}
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


@suite.probe
def nmap_finds_exactly_the_declared_public_tcp_ports(target: Target) -> str:
    expected = set()
    for rule in target.declared:
        if rule.get("proto", "tcp") == "tcp" and rule.get("from", "any") == "any":
            expected |= _ports(rule["port"])
    scan = target.run.once("hardening.nmap", lambda: open_tcp_ports(target.scanner, targets()))
    found = scan[target.name]
    expect(found == expected, f"open {sorted(found)}, declared {sorted(expected)}")
    return f"nmap -p- from the scanner: open {sorted(found)}, as declared"


@suite.probe
def restricted_ports_are_closed_to_other_hosts(target: Target) -> str:
    restricted = sorted({p for rule in target.declared if rule.get("from", "any") != "any"
                         and rule.get("proto", "tcp") == "tcp" for p in _ports(rule["port"])})
    if not restricted:
        raise Skipped(f"{target.name} declares no peer-only TCP port")
    ports = ",".join(map(str, restricted))
    out = target.scanner.check_output(f"nmap -Pn -n -sS -p {ports} -oG - {target.address}")
    expect("/open/" not in out, f"peer-only ports open to the scanner:\n{out}")
    return f"peer-only TCP ports {ports} closed to the scanner"


@suite.probe
def ssh_refuses_passwords(target: Target) -> str:
    # The exit status travels in stdout: testinfra's SSH backend (the scanner reached
    # over SSH) takes a 255 for its own connection failing.
    result = target.scanner.run(
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        "-o PreferredAuthentications=password,keyboard-interactive -o ConnectTimeout=5 "
        f"root@{target.address} true; echo \"ssh-exit=$?\"")
    expect("ssh-exit=255" in result.stdout and "Permission denied (publickey)" in result.stderr,
           f"ssh with a password to {target.address}:\n{result.stdout}{result.stderr}")
    return "ssh offering only passwords: Permission denied (publickey)"


def tls_ports(name: str) -> list[int]:
    """The TLS endpoints of a host: nginx's 443 on edge hosts, coturn's TLS port."""
    ports = []
    if name in context.host_names("edge"):
        ports.append(443)
    if name in context.host_names("turn"):
        host = context.inventory().hosts[name]
        ports.append(int(host.vars.get("coturn_tls_listening_port", 5349)))
    return ports


def testssl_reports(scanner) -> str:
    """testssl.sh's findings for every TLS endpoint, the scans run side by side on the
    scanner: a scan waits mostly on its own handshakes, so all of them at once take about
    as long as the slowest (coturn's, about 45 s) instead of the sum (about two minutes)."""
    workdir = scanner.check_output("mktemp -d")
    scans = []
    for name in targets():
        for port in tls_ports(name):
            ca = context.testinfra_host(name).file(context.CA_PATH).content_string
            scanner.run(f"cat > {workdir}/{name}-ca.pem <<'EOF'\n{ca}EOF")
            scans.append(f"timeout 600 testssl --quiet --warnings off --color 0 "
                         f"--add-ca {workdir}/{name}-ca.pem -p -s -U "
                         f"--jsonfile {workdir}/{name}-{port}.json "
                         f"{context.address_of(name)}:{port} > {workdir}/{name}-{port}.log 2>&1 &")
    scanner.run(" ".join(scans) + " wait")
    return workdir


@suite.probe(params=lambda name: {str(port): {"port": port} for port in tls_ports(name)})
def testssl_finds_no_weakness(target: Target, port: int) -> str:
    scanner = target.scanner
    workdir = target.run.once("hardening.testssl", lambda: testssl_reports(scanner))
    report = scanner.file(f"{workdir}/{target.name}-{port}.json")
    expect(report.exists, scanner.run(f"tail -20 {workdir}/{target.name}-{port}.log").stdout)
    findings = json.loads(report.content_string)
    bad = [f for f in findings if f.get("severity") in ("MEDIUM", "HIGH", "CRITICAL")]
    offered_old = [f for f in findings if f["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
                   and "not offered" not in f.get("finding", "")]
    expect(not offered_old, f"old protocols offered: {json.dumps(offered_old)}")
    expect(not bad, json.dumps(bad, indent=1))
    return f"testssl.sh -p -s -U on port {port}: {len(findings)} findings, none MEDIUM or worse"
