"""The corpus: inventories in tests/data/audit/<case>/ with their expected verdicts.

Each case is <case>/inventory/ (an Ansible inventory) and <case>/expected.json, which
holds, per policy, the exit code and either every host's and every
endpoint's verdict with the set of warning/violation rules, or (exit 2) the file
and field the error must name. The traps: an EU region of a US-owned cloud, a
Swiss host, a declared country contradicting the region, Google STUN left in,
a US SMTP relay, alerts posted to a US webhook, a public DNS resolver, SecNumCloud
look-alikes. Services known to be served worldwide (Google's STUN, Google Public DNS)
are violations even under eu-residency because they receive users' data or metadata;
served worldwide but receiving none (Debian's CDN, Google's NTP), they are warnings there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sovctl.audit.service import AuditRequest, run_audit
from sovctl.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "audit"
CASES = sorted(p for p in CORPUS.iterdir() if (p / "expected.json").is_file())
POLICIES = ("eu-residency", "eu-sovereign", "secnumcloud")


def _audit(case: Path, policy: str) -> dict:
    return run_audit(AuditRequest(case / "inventory", policy, ROOT / "policies", roles_dir=None))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case_verdicts(case: Path, policy: str) -> None:
    expected = json.loads((case / "expected.json").read_text())[policy]
    if expected["exit_code"] == 2:
        with pytest.raises(InputError) as err:
            _audit(case, policy)
        assert err.value.exit_code == 2
        assert Path(err.value.file) == case / "inventory" / expected["file"]
        assert err.value.field == expected["field"]
        return
    report = _audit(case, policy)
    assert {h["name"]: h["verdict"] for h in report["hosts"]} == expected["hosts"]
    assert {e["url"]: e["verdict"] for e in report["endpoints"]} == expected["endpoints"]
    rules = {f"{f['severity']}:{f['rule']}" for f in report["findings"]
             if f["severity"] != "info"}
    assert rules == set(expected["rules"])
    assert (1 if report["summary"]["violations"] else 0) == expected["exit_code"]


def test_corpus_covers_the_traps() -> None:
    names = {c.name for c in CASES}
    assert {"aws-paris", "swiss-host", "country-mismatch", "google-stun", "us-smtp",
            "public-dns", "unknown-provider", "unknown-region", "sandbox",
            "global-mirror-and-time", "us-alert-webhook"} <= names


def test_us_owned_eu_region_is_resident_but_not_sovereign() -> None:
    residency = _audit(CORPUS / "aws-paris", "eu-residency")
    sovereign = _audit(CORPUS / "aws-paris", "eu-sovereign")
    assert [h["country"] for h in residency["hosts"]] == ["FR", "FR"]
    assert residency["summary"]["violations"] == 0
    owner = [f for f in sovereign["findings"] if f["rule"] == "host-owner-outside"]
    assert {f["subject"] for f in owner} == {"web1", "web2"}
    assert "Amazon.com, Inc. (US)" in owner[0]["detail"]


def test_google_stun_fallback_is_named_with_its_reason() -> None:
    report = _audit(CORPUS / "google-stun", "eu-sovereign")
    stun = next(e for e in report["endpoints"] if e["url"] == "stun:stun.l.google.com:19302")
    assert stun["used_by"] == ["conf1"]
    assert any("fall back to Google" in r and "livekit_stun_servers is empty" in r
               for r in stun["reasons"])


def test_declared_country_contradicting_the_region_names_both() -> None:
    report = _audit(CORPUS / "country-mismatch", "eu-residency")
    (finding,) = [f for f in report["findings"] if f["rule"] == "host-country-mismatch"]
    assert finding["detail"] == "sov_country is FR but Hetzner region fsn1 is in DE"
    assert report["hosts"][0]["country"] == "DE"
    (location,) = [loc for f, loc in zip(report["findings"], report["meta"]["locations"],
                                         strict=True) if f["rule"] == "host-country-mismatch"]
    assert location == {"file": str(CORPUS / "country-mismatch" / "inventory" / "host_vars"
                                    / "turn1.yml"),
                        "field": "hosts.turn1.sov_country"}


def test_secnumcloud_needs_a_qualified_offer_not_just_a_qualified_provider() -> None:
    report = _audit(CORPUS / "secnumcloud", "secnumcloud")
    details = {f["subject"]: f["detail"] for f in report["findings"]
               if f["rule"] == "host-not-qualified"}
    assert set(details) == {"pub1", "bleu1"}
    assert details["pub1"].startswith("no sov_offer: OVHcloud's secnumcloud offers are")
    assert details["bleu1"] == "Bleu has no offer qualified under secnumcloud"
    info = {(f["rule"], f["subject"]) for f in report["findings"] if f["severity"] == "info"}
    assert ("host-foreign-technology", "snc2") in info  # S3NS: Google technology, reported
