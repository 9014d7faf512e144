"""Endpoint parsing, locating, and the rules, as pure functions."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from sovctl.audit import catalogue
from sovctl.audit.geoip import GeoIP, GeoRecord
from sovctl.audit.locate import Knowledge, locate
from sovctl.audit.rules import Location, endpoint_findings, host_result, verdict
from sovctl.audit.targets import parse_target

POLICIES = Path(__file__).resolve().parents[2] / "policies"
PROVIDERS = catalogue.load_providers()
KNOWN = catalogue.load_endpoints()


def policy(name: str) -> catalogue.Policy:
    return catalogue.load_policy(POLICIES / f"{name}.yml")


@pytest.mark.parametrize(("value", "purpose", "display", "host"), [
    ("stun:stun.l.google.com:19302", "stun", "stun:stun.l.google.com:19302", "stun.l.google.com"),
    ("turns:turn.example.eu:5349?transport=tcp", "turn", "turns:turn.example.eu:5349",
     "turn.example.eu"),
    ("https://user:secret@hooks.example.eu/T00/B00/tok?x=1", "webhook",
     "https://hooks.example.eu/…", "hooks.example.eu"),
    ("https://acme.harica.gr/directory", "acme", "https://acme.harica.gr/directory",
     "acme.harica.gr"),
    ("smtp.sendgrid.net:587", "smtp", "smtp.sendgrid.net:587", "smtp.sendgrid.net"),
    ("8.8.8.8", "dns", "8.8.8.8", "8.8.8.8"),
    ("[2001:4860:4860::8888]:53", "dns", "[2001:4860:4860::8888]:53", "2001:4860:4860::8888"),
    ("2606:4700:4700::1111", "dns", "2606:4700:4700::1111", "2606:4700:4700::1111"),
    ("s3:https://KEY:SECRET@s3.fr-par.scw.cloud/bucket", "backup",
     "s3:https://s3.fr-par.scw.cloud/bucket", "s3.fr-par.scw.cloud"),
    ("sftp:backup@vault.example.eu:/srv/restic", "backup", "sftp:vault.example.eu:/srv/restic",
     "vault.example.eu"),
    ("/var/backups", "backup", "/var/backups", None),
])
def test_parse_target_finds_the_host_and_drops_secrets(value, purpose, display, host) -> None:
    target = parse_target(value, purpose)
    assert (target.display, target.host) == (display, host)
    assert "secret" not in target.display.lower()


def _knowledge(**kw) -> Knowledge:
    return Knowledge(KNOWN, kw.get("declared", {}), kw.get("internal", {}), kw.get("geoip"))


def test_locate_prefers_the_catalogue_to_a_declaration() -> None:
    lie = {"stun.l.google.com": {"country": "FR"}}
    loc = locate(parse_target("stun:stun.l.google.com:19302", "stun"), "x", _knowledge(
        declared=lie))
    assert (loc.basis, loc.operator_country, loc.country) == ("catalogue", "US", None)


def test_locate_declared_internal_private_geoip_unknown() -> None:
    geo = GeoIP([(ipaddress.ip_network("51.15.0.0/16"), GeoRecord("51.15.0.0/16", "FR",
                                                                  "AS12876"))], "geo.csv")
    k = _knowledge(declared={"ntp.example.eu": {"country": "FR", "operator": "Ex SAS"}},
                   internal={"turn1": ("turn1", "DE")}, geoip=geo)
    cases = {"ntp.example.eu": ("declared", "FR"), "turn1:3478": ("internal", "DE"),
             "10.1.2.3": ("internal", None), "51.15.3.4": ("geoip", "FR"),
             "unknown.example.org": ("unknown", None)}
    for value, want in cases.items():
        loc = locate(parse_target(value, "other"), value, k)
        assert (loc.basis, loc.country) == want, value


def test_host_rules_aws_paris_under_each_policy() -> None:
    aws = PROVIDERS["aws"]
    res = host_result("web1", aws, "eu-west-3", "FR", None, policy("eu-residency"))
    assert res.country == "FR" and verdict(res.findings) == "ok"
    sov = host_result("web1", aws, "eu-west-3", "FR", None, policy("eu-sovereign"))
    assert [f.rule for f in sov.findings] == ["host-owner-outside"]
    assert "ultimate parent Amazon.com, Inc. (US)" in sov.findings[0].detail


def test_host_rules_swiss_and_mismatch_and_unknown() -> None:
    swiss = host_result("o1", PROVIDERS["infomaniak"], "dc3-a", None, None,
                        policy("eu-residency"))
    assert [f.rule for f in swiss.findings] == ["host-country-not-allowed"]
    mismatch = host_result("t1", PROVIDERS["hetzner"], "hel1", "DE", None,
                           policy("eu-residency"))
    assert [(f.rule, f.var) for f in mismatch.findings] == [("host-country-mismatch",
                                                             "sov_country")]
    unknown = host_result("x", None, None, None, None, policy("eu-sovereign"))
    assert {(f.rule, f.severity) for f in unknown.findings} == {
        ("host-provider-missing", "violation"), ("host-location-unknown", "violation")}
    lenient = host_result("x", None, None, None, None, policy("eu-residency"))
    assert verdict(lenient.findings) == "warning"


def test_qualified_offer_limited_to_regions() -> None:
    outscale = PROVIDERS["outscale"]
    ok = host_result("s", outscale, "eu-west-2", None, "iaas", policy("secnumcloud"))
    assert verdict(ok.findings) == "ok"
    us = host_result("s", outscale, "us-east-2", None, "iaas", policy("secnumcloud"))
    assert {f.rule for f in us.findings} == {"host-not-qualified", "host-country-not-allowed"}


def test_endpoint_owner_of_a_us_company_with_an_eu_parent() -> None:
    """Mailgun: a US operator (CLOUD Act) even though Sinch AB (SE) owns it."""
    loc = locate(parse_target("smtp.eu.mailgun.org:587", "smtp"), "", _knowledge())
    found = endpoint_findings("m", loc, policy("eu-sovereign"), "h", "sov_smtp_relay", "smtp")
    owner = [f for f in found if f.rule == "endpoint-owner-outside"]
    assert owner and "operator in US" in owner[0].detail and "SE" not in owner[0].detail


def test_internal_endpoints_have_no_findings() -> None:
    loc = Location("internal", "host turn1 of this deployment", "DE")
    assert endpoint_findings("stun:turn1", loc, policy("secnumcloud"), "h", "v", "stun") == []


def test_a_declared_private_address_is_located_not_assumed_internal() -> None:
    """A VPN peer on 10.x can be abroad: the operator's declaration wins."""
    k = _knowledge(declared={"10.8.0.0/16": {"country": "US", "operator": "HQ VPN"}})
    loc = locate(parse_target("10.8.1.1", "other"), "10.8.1.1", k)
    assert (loc.basis, loc.country) == ("declared", "US")
    assert locate(parse_target("10.9.1.1", "other"), "10.9.1.1", k).basis == "internal"
