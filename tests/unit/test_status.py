import datetime as dt

from sovctl.commands.status import parse


def test_parse_units_versions_and_certificate():
    info = parse(["unit coturn active", "unit keycloak failed", "version coturn 4.6.1-2",
                  "version keycloak 26.7.3", "cert Dec 28 12:00:00 2027 GMT"])
    assert info["units"] == {"coturn": "active", "keycloak": "failed"}
    assert info["versions"]["keycloak"] == "26.7.3"
    assert info["cert"] == dt.datetime(2027, 12, 28, 12, 0, tzinfo=dt.UTC)


def test_what_prometheus_knows_is_shown_and_its_problems_counted():
    from sovctl.commands.status import _prometheus

    info = parse([
        "alert critical SovctlServiceDown sandbox-turn "
        "coturn.service is not active on sandbox-turn",
        "alert warning SovctlDiskAlmostFull sandbox-mon / on sandbox-mon has 8% free",
        "target up node sandbox-turn", "target down node sandbox-rtc", "target up synthetic mon",
        "probe 1 identity/oidc_login sandbox-edge", "probe 0 turn/allocation sandbox-turn"])
    lines = []
    assert _prometheus("sandbox-mon", info, lines.append) == 3  # target, probe, critical
    text = "\n".join(lines)
    assert "2 of 3 targets up" in text
    assert "DOWN  node on sandbox-rtc" in text
    assert "ok    identity/oidc_login on sandbox-edge" in text
    assert "FAIL  turn/allocation on sandbox-turn" in text
    assert ("CRITICAL SovctlServiceDown (sandbox-turn): coturn.service is not active on "
            "sandbox-turn") in text


def test_an_unreachable_prometheus_is_a_problem_and_a_host_without_one_shows_nothing():
    from sovctl.commands.status import _prometheus

    lines = []
    assert _prometheus("mon1", parse(["prometheus unreachable <urlopen error refused>"]),
                       lines.append) == 1
    assert "DOWN  unreachable <urlopen error refused>" in lines[0]
    assert _prometheus("turn1", parse(["unit coturn active"]), lines.append) == 0
    assert len(lines) == 1
