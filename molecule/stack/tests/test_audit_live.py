"""``sovctl audit --live`` against the converged stack (issue 7, acceptance 3).

The audit connects to the sandbox's hosts and must report their real addresses and
outbound connections. A connection injected from the office host to a listener on
this machine (the sandbox network's gateway) is declared, in a copy of the
inventory, as an endpoint in the United States: the audit must flag it as a
violation and exit 1. Without the injection the same copy's verdict has no such
finding, so the test can tell the difference.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from sovctl.checks import context
from sovctl.inventory import load_inventory

SOVCTL = [sys.executable, "-m", "sovctl"]


@pytest.fixture(scope="module")
def listener():
    """A TCP listener on the sandbox network's gateway (this machine), accepting and holding."""
    gateway = _gateway()
    server = socket.create_server((gateway, 0))
    server.settimeout(120)
    held: list[socket.socket] = []

    def accept():
        try:
            while True:
                conn, _ = server.accept()
                held.append(conn)
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    yield gateway, server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


def _gateway() -> str:
    from sovctl import sandbox

    return sandbox.network(Path(context.inventory_path()))[1]


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
        h.run(f"pkill -f 'create_connection..{address}' || true")

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
