"""Alerts for real (issue 23, acceptance 2): coturn stopped on the sandbox's TURN host makes
Prometheus fire SovctlServiceDown (from the node exporter's systemd collector) and
Alertmanager deliver it to the monitoring host's alert log within three minutes; coturn
started again, the alert resolves and the resolution is delivered too."""

from __future__ import annotations

import time

import pytest

from sovctl.probes import context

WAIT = 180  # seconds: the acceptance's three minutes


def _alert_lines(mon, since: str) -> list[str]:
    out = mon.run(f"journalctl -u sovctl-alert-log --since '{since}' -o cat --no-pager")
    return [line for line in out.stdout.splitlines() if line.startswith("ALERT ")]


def _wait_for(mon, since: str, wanted: str) -> tuple[float, list[str]]:
    start = time.monotonic()
    while time.monotonic() - start < WAIT:
        lines = _alert_lines(mon, since)
        if any(line.startswith(wanted) for line in lines):
            return time.monotonic() - start, lines
        time.sleep(5)
    return -1, _alert_lines(mon, since)


def test_a_stopped_service_fires_an_alert_that_reaches_the_receiver_and_resolves():
    monitors, turns = context.hosts("monitoring"), context.hosts("turn")
    if not monitors or not turns:
        pytest.skip("the inventory has no monitoring or turn host")
    mon = context.testinfra_host(monitors[0].name)
    turn_name = turns[0].name
    turn = context.testinfra_host(turn_name)
    since = mon.check_output("date '+%Y-%m-%d %H:%M:%S'")
    firing = f"ALERT firing SovctlServiceDown instance={turn_name} name=coturn.service"
    resolved = f"ALERT resolved SovctlServiceDown instance={turn_name} name=coturn.service"
    turn.check_output("systemctl stop coturn")
    try:
        fired_after, lines = _wait_for(mon, since, firing)
    finally:
        turn.check_output("systemctl start coturn")
    assert fired_after >= 0, f"no {firing!r} within {WAIT} s; the alert log has: {lines}"
    resolved_after, lines = _wait_for(mon, since, resolved)
    assert resolved_after >= 0, f"no {resolved!r} within {WAIT} s; the alert log has: {lines}"
    # Only the stopped unit went down: stopping coturn took no other unit with it.
    others = [line for line in lines if line.startswith("ALERT firing SovctlServiceDown")
              and not line.startswith(firing)]
    assert not others, others
    print(f"fired after {fired_after:.0f} s, resolved {resolved_after:.0f} s after the start")
