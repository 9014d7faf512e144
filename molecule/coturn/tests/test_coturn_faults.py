"""Faults on the TURN host (issue 11), after the checks of test_coturn.py.

coturn killed with SIGKILL is restarted by systemd (the role's unit drop-in sets
Restart=) and relays again; while coturn is held down, `sovctl verify` against this
scenario's inventory fails and names the host, the service and the failing checks;
once it is started again, verify passes. coturn is left running.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from sovctl.probes import Failed, coturn
from sovctl.probes.pytest_adapter import probe_run  # noqa: F401 - the fixture

WAIT = 60  # seconds; systemd restarts coturn 2 s after it dies (RestartSec)


def unit(host) -> dict[str, str]:
    out = host.check_output("systemctl show coturn -p MainPID -p NRestarts -p ActiveState "
                            "-p SubState -p Restart")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def listening(host, port: int) -> bool:
    """coturn listens on TCP and UDP ``port`` again."""
    out = host.run(f"ss -Hlntu sport = :{port}").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()} >= {"tcp", "udp"}


def wait_until(what: str, predicate, host) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            state = host.run("systemctl status --no-pager coturn; "
                             "journalctl -u coturn -n 20 --no-pager")
            pytest.fail(f"{what} not within {WAIT} s:\n{state.stdout}")
        time.sleep(1)


@pytest.fixture(scope="module")
def turn(probe_run):  # noqa: F811 - the fixture imported above
    """The scenario's one TURN host, as the coturn probes see it."""
    return coturn.suite.subject_for(probe_run, coturn.context.host_names("turn")[0])


def relays(turn) -> str:
    """A real allocation with turnutils_uclient (UDP) relaying data to the peer and back;
    '' when every message came back, else what the client reported."""
    try:
        sent, received, out = coturn.relay_totals(turn.client, turn)
    except Failed as exc:
        return str(exc)
    return "" if sent > 0 and sent == received else out[-2000:]


def test_killed_coturn_is_restarted_by_systemd(turn):
    h = turn.host
    before = unit(h)
    assert before["Restart"] != "no", "the coturn unit has no Restart= (roles/coturn drop-in)"
    assert before["ActiveState"] == "active" and before["MainPID"] != "0", before

    h.check_output(f"kill -KILL {before['MainPID']}")

    def restarted() -> bool:
        now = unit(h)
        return (int(now["NRestarts"]) > int(before["NRestarts"])
                and now["MainPID"] not in ("0", before["MainPID"])
                and now["ActiveState"] == "active" and listening(h, turn.port))

    wait_until("coturn restarted by systemd and listening", restarted, h)
    assert relays(turn) == ""


def verify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sovctl", "verify", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         "--service", "coturn", *args], capture_output=True, text=True, timeout=600)


def test_verify_reports_the_outage_while_it_lasts(turn):
    h, name = turn.host, turn.name
    try:
        h.check_output("systemctl stop coturn")
        down = verify()
    finally:
        h.run("systemctl start coturn")
        wait_until("coturn listening after start", lambda: listening(h, turn.port), h)
    out = down.stdout + down.stderr
    assert down.returncode != 0, out[-3000:]
    assert re.search(rf"^{re.escape(name)}\s+coturn\s+\d+\s+[1-9]\d*\s+\d+\s+FAIL$", out,
                     re.M), out[-3000:]
    assert re.search(rf"^FAILED {re.escape(name)} coturn coturn_is_running_and_enabled: ", out,
                     re.M), out[-3000:]

    up = verify()
    assert up.returncode == 0, (up.stdout + up.stderr)[-3000:]
    assert re.search(rf"^{re.escape(name)}\s+coturn\s+\d+\s+0\s+\d+\s+PASS$", up.stdout,
                     re.M), up.stdout[-3000:]
