"""``sovctl audit --live`` against the converged stack (issue 7, acceptance 3).

The audit connects to the sandbox's hosts and must report their real addresses and
outbound connections. A connection injected from the office host to a listener on
an extra address of the scanner host is declared, in a copy of the inventory, as an
endpoint in the United States: the audit must flag it as a violation and exit 1.
Before the connection exists the same copy's report has no such finding, so the
test can tell the difference.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sovctl.inventory import load_inventory
from sovctl.probes import context

SOVCTL = [sys.executable, "-m", "sovctl"]


LISTEN_PORT = 9411
_LISTENER = ("import socket,time; s=socket.create_server(('{address}',{port})); "
             "c=[s.accept() for _ in range(4)]; time.sleep(150)")


@pytest.fixture(scope="module")
def listener():
    """A TCP listener on an extra address of the scanner host, known to nobody.

    The address is neither an inventory host nor a declared endpoint, so a connection to
    it is what an unplanned dependency looks like. The scanner's firewall admits it for
    the test only (a rule with a comment, removed afterwards, as is the address).
    """
    from sovctl import sandbox

    subnet = sandbox.network(Path(context.inventory_path()))[0]
    address = str(list(ipaddress.ip_network(subnet).hosts())[-2])
    scan = context.testinfra_host(context.hosts("scanner")[0].name)
    dev = scan.check_output("ip -o -4 route show default | awk '{print $5}'") or "eth0"
    scan.run(f"ip addr add {address}/32 dev {dev}")
    scan.run(f"nft insert rule inet sovctl input ip daddr {address} tcp dport {LISTEN_PORT} "
             "accept comment sovctl-test-listener")
    scan.run("nohup timeout 180 python3 -c %s >/dev/null 2>&1 &",
             _LISTENER.format(address=address, port=LISTEN_PORT))
    yield address, LISTEN_PORT
    scan.run(f"pkill -f 'create_serve[r]..{address}' || true")
    handles = scan.check_output("nft -a list chain inet sovctl input | "
                                "sed -n 's/.*sovctl-test-listener.*# handle //p'")
    for handle in handles.split():
        scan.run(f"nft delete rule inet sovctl input handle {handle}")
    scan.run(f"ip addr del {address}/32 dev {dev}")


@pytest.fixture(scope="module")
def injected_inventory(tmp_path_factory, listener):
    """A copy of the inventory that declares the listener's address as a US endpoint."""
    src = Path(context.inventory_path())
    dst = tmp_path_factory.mktemp("inv") / "sandbox"
    shutil.copytree(src, dst, symlinks=True)
    main = dst / "group_vars" / "all" / "main.yml"
    data = yaml.safe_load(main.read_text())
    data["sov_endpoint_locations"][listener[0]] = {
        "country": "US", "operator": "injected test endpoint", "parent_country": "US"}
    main.write_text(yaml.safe_dump(data))
    return dst


def audit(inventory: Path) -> tuple[int, dict]:
    proc = subprocess.run([*SOVCTL, "audit", "-i", str(inventory), "--live", "--format", "json"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def _flagged(report: dict, address: str, port: int) -> list[dict]:
    return [f for f in report["findings"] if f"{address}:{port}" in f["subject"]
            and f["severity"] == "violation"]


def test_live_audit_reports_real_addresses_and_flags_an_injected_connection(
        listener, injected_inventory):
    address, port = listener
    office = context.hosts("office")[0].name
    before_rc, before = audit(injected_inventory)
    assert not _flagged(before, address, port), "flagged before the connection existed"

    h = context.testinfra_host(office)
    h.run("nohup timeout 120 python3 -c \"import socket,time; "
          f"s=socket.create_connection(('{address}',{port})); time.sleep(110)\" "
          ">/dev/null 2>&1 &")
    try:
        rc, report = audit(injected_inventory)
    finally:
        h.run(f"pkill -f 'create_connectio[n]..{address}' || true")

    live = report["meta"]["live"]
    for host in load_inventory(Path(context.inventory_path())).hosts.values():
        expected = host.vars.get("ansible_host")
        assert host.name in live, f"{host.name} missing from meta.live"
        if expected:
            assert expected in live[host.name]["addresses"], live[host.name]
    assert any(f"{address}:{port}" in c for c in live[office]["outbound"]), live[office]
    flagged = _flagged(report, address, port)
    assert flagged, json.dumps(report["findings"], indent=1)
    assert {f["rule"] for f in flagged} & {"endpoint-country-not-allowed",
                                           "endpoint-owner-outside"}, flagged
    endpoint = next(e for e in report["endpoints"] if f"{address}:{port}" in e["url"])
    assert endpoint["country"] == "US" and endpoint["verdict"] == "violation", endpoint
    assert rc == 1
