"""The shipped catalogues and policies: complete, valid, honest about their sources."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sovctl.audit import catalogue
from sovctl.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
REQUIRED = {"ovhcloud", "scaleway", "outscale", "cloud-temple", "hetzner", "ionos", "stackit",
            "open-telekom-cloud", "upcloud", "aruba", "exoscale", "infomaniak", "leaseweb",
            "aws", "azure", "gcp", "oracle", "s3ns", "bleu", "sandbox"}
EU_EEA = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
          "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
          "IS", "LI", "NO"}


@pytest.fixture(scope="module")
def providers():
    return catalogue.load_providers()


def test_required_providers_and_regions(providers) -> None:
    assert set(providers) >= REQUIRED
    want = {"aws": {"eu-west-3": "FR", "eu-central-1": "DE", "us-east-1": "US"},
            "hetzner": {"fsn1": "DE", "nbg1": "DE", "hel1": "FI", "ash": "US", "hil": "US"},
            "ovhcloud": {"gra": "FR", "sbg": "FR", "rbx": "FR", "waw": "PL", "bhs": "CA"},
            "scaleway": {"fr-par": "FR", "nl-ams": "NL", "pl-waw": "PL"}}
    for key, regions in want.items():
        assert {r: providers[key].regions[r].country for r in regions} == regions


def test_owner_traps_are_stated(providers) -> None:
    assert providers["s3ns"].parent[1] == "FR" and providers["s3ns"].technology[1] == "US"
    assert providers["bleu"].parent[1] == "FR" and providers["bleu"].technology[1] == "US"
    assert not [q for q in providers["bleu"].qualifications if q.scheme == "secnumcloud"]
    assert [q.offer for q in providers["s3ns"].qualifications] == ["premi3ns"]
    assert providers["infomaniak"].seat[1] == "CH" and "CH" not in EU_EEA
    assert providers["exoscale"].seat[1] == "CH"
    for key in ("aws", "azure", "gcp", "oracle"):
        assert providers[key].parent[1] == "US"
    assert providers["sandbox"].is_local


def test_every_fact_has_a_source_and_an_honest_date(providers) -> None:
    facts = [f for p in providers.values() for f in p.facts.values()]
    facts += [q.fact for p in providers.values() for q in p.qualifications]
    facts += [e.fact for e in catalogue.load_endpoints()]
    assert all(f.source.startswith("https://") for f in facts)
    assert {f.checked for f in facts} <= {None, "2026-11-26"}
    assert any(f.checked is None for f in facts)  # unchecked facts are marked, not dated


def test_endpoint_catalogue_entries_match_what_they_claim() -> None:
    known = {e.key: e for e in catalogue.load_endpoints()}
    assert known["google-stun"].operator_country == "US" and known["google-stun"].country is None
    assert known["buypass"].country == "NO"  # quoted in YAML, not false
    assert known["mailgun-us"].operator_country == "US"
    assert known["mailgun-us"].parent_country == "SE"
    assert known["debian-cdn"].operator == "Fastly, Inc."


def test_registry_lists_the_site_and_role_variables() -> None:
    reg = catalogue.load_registry()
    names = {v.name: v for v in reg.variables}
    assert {"sov_ntp_servers", "sov_dns_resolvers", "sov_apt_mirror", "sov_acme_directory",
            "sov_smtp_relay", "sov_stun_servers", "sov_artifact_mirror",
            "sov_backup_target"} <= set(names)
    stun = names["livekit_stun_servers"]
    assert stun.groups == ("conferencing",) and stun.role == "livekit"
    assert stun.default == "{{ sov_stun_servers }}"
    assert reg.roles_for(("conferencing", "turn")) == ["coturn", "livekit"]


def test_role_defaults_agree_with_the_registry() -> None:
    """One source of truth: a role that exists declares the registry's default."""
    checked = 0
    for var in catalogue.load_registry().variables:
        defaults = ROOT / "roles" / (var.role or "-") / "defaults" / "main.yml"
        if var.role and defaults.is_file():
            data = yaml.safe_load(defaults.read_text()) or {}
            assert data.get(var.name) == var.default, f"{defaults}: {var.name}"
            checked += 1
    if not checked:
        pytest.skip("no role of the registry exists yet (livekit, keycloak, collabora)")


def test_shipped_policies() -> None:
    assert catalogue.shipped_policies(POLICIES) == ["eu-residency", "eu-sovereign",
                                                    "secnumcloud"]
    res, sov, snc = (catalogue.load_policy(POLICIES / f"{n}.yml") for n in
                     ("eu-residency", "eu-sovereign", "secnumcloud"))
    assert res.countries == sov.countries == snc.countries == EU_EEA
    assert (res.require_eu_parent, sov.require_eu_parent, snc.require_eu_parent) == (
        False, True, True)
    assert (res.unknown_location, sov.unknown_location) == ("warning", "violation")
    assert snc.require_qualification == "secnumcloud"


@pytest.mark.parametrize(("text", "field"), [
    ("countries: []\n", "countries"),
    ("countries: [FR, no]\n", "countries"),
    ("countries: [FR]\nunknown_location: maybe\n", "unknown_location"),
    ("countries: [FR]\nrequire_eu_parent: sometimes\n", "require_eu_parent"),
])
def test_bad_policy_files_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "p.yml"
    path.write_text("---\nname: p\n" + text)
    with pytest.raises(InputError) as err:
        catalogue.load_policy(path)
    assert (err.value.exit_code, err.value.field, err.value.file) == (2, field, str(path))


def test_policy_by_name_or_path(tmp_path: Path) -> None:
    assert catalogue.resolve_policy_path("eu-sovereign", POLICIES) == POLICIES / "eu-sovereign.yml"
    with pytest.raises(InputError) as err:
        catalogue.resolve_policy_path(str(tmp_path / "missing.yml"), POLICIES)
    assert err.value.exit_code == 2 and err.value.field == "--policy"
