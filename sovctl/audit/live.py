"""``sovctl audit --live``: ask the hosts what they really use.

Two read-only ad-hoc Ansible runs over the inventory: ``setup`` (network facts:
every address of the host) and one ``shell`` probe that prints the resolvers,
NTP sources, APT sources, listening sockets and established connections. The
``ansible`` CLI reports with the ansible.posix.json stdout callback; the parsers
below turn the captured texts into an ``Observed`` per host.

The parsers are pure and tested with captured outputs; the end-to-end run needs
test hosts (tests/integration/test_audit_live.py).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sovctl.errors import UnavailableError

PLAYBOOK = "audit_live.yml"  # the read-only probe (playbooks/), run through the runner


@dataclass(frozen=True)
class Connection:
    proto: str
    local_ip: str
    local_port: int
    peer_ip: str
    peer_port: int
    process: str | None

    def describe(self) -> str:
        who = f" ({self.process})" if self.process else ""
        return (f"{self.proto} {self.local_ip}:{self.local_port} -> "
                f"{self.peer_ip}:{self.peer_port}{who}")


@dataclass(frozen=True)
class Observed:
    host: str
    error: str | None  # why the host could not be probed, else None
    addresses: tuple[str, ...] = ()
    resolvers: tuple[str, ...] = ()
    ntp_sources: tuple[str, ...] = ()
    apt_sources: tuple[str, ...] = ()
    outbound: tuple[Connection, ...] = ()


# --- parsers (pure) --------------------------------------------------------

def split_sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = re.fullmatch(r"### (\w+)", line.strip())
        if m:
            current = m[1]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {k: "\n".join(v).strip() for k, v in sections.items()}


def parse_resolv_conf(text: str) -> list[str]:
    return [line.split()[1] for line in text.splitlines()
            if line.strip().startswith("nameserver") and len(line.split()) > 1]


def parse_resolvectl(text: str) -> list[str]:
    """``resolvectl dns``: ``Global: 1.1.1.1`` / ``Link 2 (eth0): 9.9.9.9#dns.quad9.net``."""
    found = []
    for line in text.splitlines():
        if ":" not in line:
            continue
        _, _, servers = line.partition("):") if "):" in line else line.partition(":")
        found += [s.split("#", 1)[0] for s in servers.split()]
    return found


def parse_chrony_sources(text: str) -> list[str]:
    """``chronyc -N -n sources``: lines ``^* name stratum poll ...`` (^ server, = peer)."""
    return [line.split()[1] for line in text.splitlines()
            if len(line) > 3 and line[0] in "^=#" and len(line.split()) > 1]


def parse_apt_sources(text: str) -> list[str]:
    """One-line (``deb [opts] URL suite``) and deb822 (``URIs: a b``) formats."""
    urls = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith(("deb ", "deb-src ")):
            words = re.sub(r"\[[^]]*\]", " ", line).split()
            if len(words) > 1:
                urls.append(words[1])
        elif line.lower().startswith("uris:"):
            urls += line.split(":", 1)[1].split()
    return list(dict.fromkeys(urls))


def _address(text: str) -> tuple[str, int | None]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]").split("%", 1)[0]
    if host.startswith("::ffff:") and "." in host:
        host = host[len("::ffff:"):]
    return host, int(port) if port.isdigit() else None


def _columns(line: str) -> list[str]:
    words = line.split()
    # "tcp LISTEN 0 128 local peer" or, with a state filter, "tcp 0 0 local peer users:..."
    if len(words) > 1 and not words[1].isdigit():
        del words[1]
    return words


def parse_listening_ports(text: str) -> set[tuple[str, int]]:
    ports = set()
    for line in text.splitlines():
        words = _columns(line)
        if len(words) >= 5:
            _, port = _address(words[3])
            if port is not None:
                ports.add((words[0], port))
    return ports


def parse_established(text: str) -> list[Connection]:
    conns = []
    for line in text.splitlines():
        words = _columns(line)
        if len(words) < 5:
            continue
        (lip, lport), (pip, pport) = _address(words[3]), _address(words[4])
        if lport is None or pport is None:
            continue
        process = re.search(r'\(\("([^"]+)"', line)
        conns.append(Connection(words[0], lip, lport, pip, pport,
                                process[1] if process else None))
    return conns


def outbound(conns: list[Connection], listening: set[tuple[str, int]]) -> list[Connection]:
    """Connections this host opened: its local port is not one it listens on."""
    return [c for c in conns if (c.proto, c.local_port) not in listening]


def addresses_from_facts(facts: dict[str, Any]) -> list[str]:
    found = list(facts.get("ansible_all_ipv4_addresses") or [])
    found += [a for a in facts.get("ansible_all_ipv6_addresses") or []
              if not ipaddress.ip_address(a.split("%", 1)[0]).is_link_local]
    return found


def observed_from_probe(host: str, facts: dict[str, Any], probe: str) -> Observed:
    sec = split_sections(probe)
    resolvers = [r for r in parse_resolv_conf(sec.get("resolv", ""))
                 if not ipaddress.ip_address(r.split("%", 1)[0]).is_loopback]
    resolvers += parse_resolvectl(sec.get("resolvectl", ""))
    ntp = parse_chrony_sources(sec.get("chrony", "")) + sec.get("timesyncd", "").split()
    conns = parse_established(sec.get("established", ""))
    return Observed(
        host=host, error=None,
        addresses=tuple(addresses_from_facts(facts)),
        resolvers=tuple(dict.fromkeys(resolvers)),
        ntp_sources=tuple(dict.fromkeys(ntp)),
        apt_sources=tuple(parse_apt_sources(sec.get("apt", ""))),
        outbound=tuple(outbound(conns, parse_listening_ports(sec.get("listen", "")))),
    )


def observed_from_run(hosts: list[str], reports: dict[str, Any],
                      failures: dict[str, str]) -> list[Observed]:
    """What each host showed: its report of the probe playbook, or why there is none."""
    observed = []
    for host in hosts:
        report = reports.get(host)
        if host in failures or not isinstance(report, dict):
            observed.append(Observed(host, failures.get(host) or "no result"))
            continue
        facts = report.get("facts") if isinstance(report.get("facts"), dict) else {}
        observed.append(observed_from_probe(host, facts, str(report.get("probe") or "")))
    return observed


# --- collection (talks to the hosts) ---------------------------------------

def collect(inventory: Path, hosts: list[str]) -> list[Observed]:
    """Run the read-only probe on every host through sovctl's runner (its environment
    allow-list, the inventory's vault password, its process handling)."""
    from sovctl.inventory import vault_password_file
    from sovctl.paths import project_root
    from sovctl.runner import RunRequest, run_playbook

    result = run_playbook(RunRequest(playbooks=[project_root() / "playbooks" / PLAYBOOK],
                                     inventory=inventory,
                                     vault_password_file=vault_password_file(inventory)),
                          emit=lambda _line: None)
    failures = {f["host"]: f["message"] for f in result.failures}
    if not result.reports and not failures:
        raise UnavailableError(f"the live collection did not run (ansible exit {result.rc})",
                               hint="run `sovctl check -i INVENTORY` to see what stops it")
    return observed_from_run(hosts, result.reports, failures)
