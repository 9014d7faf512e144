"""Alerts for real (issue 23, acceptances 2 and 3), both at once so that their waits overlap:

- coturn stopped on the sandbox's TURN host makes Prometheus fire SovctlServiceDown (from
  the node exporter's systemd collector) and Alertmanager deliver it to the monitoring
  host's alert log within three minutes; coturn started again, the alert resolves and the
  resolution is delivered too;
- the synthetic login probe's user disabled in Keycloak (the probe logs in every minute
  from the monitoring host, as a user would) makes SovctlSyntheticProbeFailing fire for
  identity's oidc_login; the user enabled again, it resolves.
"""

from __future__ import annotations

import json
import time

import pytest

from sovctl.probes import context
from sovctl.probes.keycloak import admin

WAIT = 180  # seconds: the acceptance's three minutes
# The login probe runs every minute and fires after two failed runs in a row: up to a
# minute before the first failed run, a minute of failures, a scrape and an evaluation.
# A probe cycle is slower while coturn is down (the TURN probe waits for its timeout) and on
# a machine that also runs the cluster's failover tests (clean-clone rehearsal, 2026-12-08: no
# alert within 300 s): a bound on the wait, not a target.
LOGIN_WAIT = 480
PROBE_USER = "sovctl-synthetic"


def _alert_lines(mon, since: str) -> list[str]:
    out = mon.run(f"journalctl -u sovctl-alert-log --since '{since}' -o cat --no-pager")
    return [line for line in out.stdout.splitlines() if line.startswith("ALERT ")]


def _wait_for(mon, since: str, wanted: str, wait: float = WAIT,
              start: float | None = None) -> tuple[float, list[str]]:
    start = time.monotonic() if start is None else start
    while time.monotonic() - start < wait:
        lines = _alert_lines(mon, since)
        if any(line.startswith(wanted) for line in lines):
            return time.monotonic() - start, lines
        time.sleep(5)
    return -1, _alert_lines(mon, since)


def _probe_user(identity: str, realm: str, **changes) -> str:
    """The probe user's id; with ``changes``, applied through the admin API."""
    found = json.loads(admin(identity, "GET",
                             f"/admin/realms/{realm}/users?exact=true&username={PROBE_USER}")[1])
    assert found, f"no user {PROBE_USER} in realm {realm} on {identity}"
    uid = found[0]["id"]
    if changes:
        admin(identity, "PUT", f"/admin/realms/{realm}/users/{uid}", changes)
    return uid


def test_a_stopped_service_and_broken_logins_fire_alerts_that_reach_the_receiver_and_resolve():
    monitors, turns = context.hosts("monitoring"), context.hosts("turn")
    identities = context.hosts("identity")
    if not monitors or not turns or not identities:
        pytest.skip("the inventory has no monitoring, turn or identity host")
    mon = context.testinfra_host(monitors[0].name)
    turn_name, identity = turns[0].name, identities[0].name
    realm = identities[0].vars.get("keycloak_realm", "sov")
    turn = context.testinfra_host(turn_name)
    since = mon.check_output("date '+%Y-%m-%d %H:%M:%S'")
    firing = f"ALERT firing SovctlServiceDown instance={turn_name} name=coturn.service"
    resolved = f"ALERT resolved SovctlServiceDown instance={turn_name} name=coturn.service"
    login = (f"ALERT {{}} SovctlSyntheticProbeFailing instance={monitors[0].name} "
             f"users cannot do it: identity oidc_login fails on {identity}")
    uid = _probe_user(identity, realm)
    turn.check_output("systemctl stop coturn")
    _probe_user(identity, realm, enabled=False)
    broken = time.monotonic()
    try:
        fired_after, lines = _wait_for(mon, since, firing)
    finally:
        turn.check_output("systemctl start coturn")
    try:
        login_after, login_lines = _wait_for(mon, since, login.format("firing"), LOGIN_WAIT,
                                             start=broken)
    finally:
        _probe_user(identity, realm, enabled=True)
        # Whatever the failed logins counted towards a lockout is forgotten.
        admin(identity, "DELETE", f"/admin/realms/{realm}/attack-detection/brute-force/users/{uid}")
    assert fired_after >= 0, f"no {firing!r} within {WAIT} s; the alert log has: {lines}"
    assert login_after >= 0, (f"no {login.format('firing')!r} within {LOGIN_WAIT} s; "
                              f"the alert log has: {login_lines}")
    resolved_after, lines = _wait_for(mon, since, resolved)
    assert resolved_after >= 0, f"no {resolved!r} within {WAIT} s; the alert log has: {lines}"
    login_resolved, lines = _wait_for(mon, since, login.format("resolved"), LOGIN_WAIT)
    assert login_resolved >= 0, (f"no {login.format('resolved')!r} within {LOGIN_WAIT} s; "
                                 f"the alert log has: {lines}")
    # Only the stopped unit went down: stopping coturn took no other unit with it.
    others = [line for line in lines if line.startswith("ALERT firing SovctlServiceDown")
              and not line.startswith(firing)]
    assert not others, others
    print(f"coturn: fired after {fired_after:.0f} s, resolved {resolved_after:.0f} s after "
          f"the start; the login probe: fired {login_after:.0f} s after the user was "
          f"disabled, resolved {login_resolved:.0f} s after it was enabled again")
