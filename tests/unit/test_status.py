import datetime as dt

from sovctl.commands.status import parse


def test_parse_units_versions_and_certificate():
    info = parse(["unit coturn active", "unit keycloak failed", "version coturn 4.6.1-2",
                  "version keycloak 26.7.3", "cert Dec 28 12:00:00 2027 GMT"])
    assert info["units"] == {"coturn": "active", "keycloak": "failed"}
    assert info["versions"]["keycloak"] == "26.7.3"
    assert info["cert"] == dt.datetime(2027, 12, 28, 12, 0, tzinfo=dt.UTC)
