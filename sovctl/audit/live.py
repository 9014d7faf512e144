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
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sovctl.errors import EXIT_AUDIT_BAD_INPUT, InputError, UnavailableError

# Read-only: prints sections that the parsers below split on "### name".
PROBE = r"""
s() { printf '\n### %s\n' "$1"; }
s resolv; cat /etc/resolv.conf 2>/dev/null
s resolvectl; resolvectl dns 2>/dev/null
s chrony; chronyc -N -n sources 2>/dev/null
s timesyncd; timedatectl show-timesync --property=ServerName --value 2>/dev/null
s apt; cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
  /etc/apt/sources.list.d/*.sources 2>/dev/null
s listen; ss -H -tuln 2>/dev/null
s established; ss -H -tunp state established 2>/dev/null
true
"""
TIMEOUT_SECONDS = 900


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


def results_by_host(callback_json: str) -> dict[str, dict[str, Any]]:
    """Per-host results of a one-task ad-hoc run reported by ansible.posix.json."""
    data = json.loads(callback_json)
    found: dict[str, dict[str, Any]] = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            found.update(task.get("hosts", {}))
    return found


def _failure(result: dict[str, Any]) -> str | None:
    if not result:
        return "no result"
    if result.get("unreachable") or (result.get("failed") and "stdout" not in result
                                     and "ansible_facts" not in result):
        return str(result.get("msg") or "failed").strip()
    return None


def merge_results(hosts: list[str], setup: dict[str, dict],
                  probe: dict[str, dict]) -> list[Observed]:
    observed = []
    for host in hosts:
        s, p = setup.get(host, {}), probe.get(host, {})
        error = _failure(s) or _failure(p)
        observed.append(Observed(host, error) if error else
                        observed_from_probe(host, s.get("ansible_facts", {}), p.get("stdout", "")))
    return observed


# --- collection (talks to the hosts) ---------------------------------------

def _ansible_binary() -> str:
    beside = Path(sys.executable).parent / "ansible"
    found = str(beside) if beside.is_file() else shutil.which("ansible")
    if not found:
        raise UnavailableError("the ansible command was not found",
                               hint="install sovctl with its dependencies (ansible-core)")
    return found


def _run(inventory: Path, module: str, args: str) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_RETRY_FILES_ENABLED": "0"}
    cmd = [_ansible_binary(), "all", "-i", str(inventory), "-m", module, "-a", args]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as exc:
        raise UnavailableError(
            f"the live collection did not finish in {TIMEOUT_SECONDS} s") from exc
    try:
        return results_by_host(proc.stdout)
    except json.JSONDecodeError as exc:
        raise InputError(f"ansible failed (exit {proc.returncode}): "
                         f"{(proc.stderr or proc.stdout).strip()[-500:]}",
                         file=str(inventory), exit_code=EXIT_AUDIT_BAD_INPUT) from exc


def collect(inventory: Path, hosts: list[str]) -> list[Observed]:
    setup = _run(inventory, "ansible.builtin.setup", "gather_subset=!all,network")
    probe = _run(inventory, "ansible.builtin.shell", PROBE)
    return merge_results(hosts, setup, probe)
