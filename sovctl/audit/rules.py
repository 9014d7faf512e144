"""The audit's rules: pure functions from facts and a policy to findings.

A host is located by its provider's region (the catalogue's fact) or, without a
region, by its declared sov_country; an endpoint by the endpoint catalogue, the
operator's declaration (sov_endpoint_locations), an offline GeoIP database, or
not at all. Every finding names its rule; a subject's verdict is its worst finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sovctl.audit.catalogue import Policy, Provider

SEVERITIES = ("violation", "warning", "info")

# rule id -> what it checks (SARIF rule descriptions, the HTML legend)
RULES = {
    "host-country-not-allowed": "The host is in a country outside the policy's countries.",
    "host-country-mismatch": "The declared sov_country contradicts the country of the "
                             "provider's region.",
    "host-location-unknown": "Neither a region nor a country is known for the host.",
    "host-region-missing": "The host names a provider but no sov_region, so its country "
                           "is only declared.",
    "host-provider-missing": "The host names no sov_provider, so its owner cannot be checked.",
    "host-owner-outside": "The provider's legal seat or ultimate parent is outside the "
                          "policy's parent countries (extraterritorial reach).",
    "host-foreign-technology": "The provider runs technology licensed from a company "
                               "outside the policy's parent countries.",
    "host-not-qualified": "The host does not run on an offer qualified under the policy's "
                          "required scheme.",
    "host-self-hosted": "The host is the operator's own machine: owner and qualification "
                        "checks do not apply.",
    "endpoint-country-not-allowed": "The endpoint answers from a country outside the "
                                    "policy's countries.",
    "endpoint-served-globally": "The endpoint is served worldwide (anycast, a worldwide CDN "
                                "or pool): a violation when it receives users' data or "
                                "metadata, else as the policy treats unknown locations.",
    "endpoint-location-unknown": "Where the endpoint answers from is not known (not "
                                 "catalogued, or served from several places of unknown "
                                 "reach).",
    "endpoint-owner-outside": "The endpoint's operator or its ultimate parent is outside "
                              "the policy's parent countries.",
    "endpoint-owner-unknown": "The endpoint's operator is not known.",
    "endpoint-software-fallback": "The variable is empty, so the software falls back to a "
                                  "built-in public endpoint.",
    "live-undeclared": "A host uses an endpoint (resolver, NTP source, package source, "
                       "connection) that the inventory does not declare.",
    "live-host-country-mismatch": "A host's public address geolocates to another country "
                                  "than the one the inventory gives.",
    "live-unreachable": "The live collection could not reach the host.",
}


@dataclass(frozen=True)
class Finding:
    severity: str
    rule: str
    subject: str
    detail: str
    host: str | None = None  # where to point a user: this host's variable...
    var: str | None = None  # ...this variable


@dataclass(frozen=True)
class Location:
    """Where an endpoint is and who runs it, and how the audit knows."""

    basis: str  # internal | catalogue | declared | geoip | unknown
    summary: str
    country: str | None = None
    operator: str | None = None
    operator_country: str | None = None
    parent_country: str | None = None
    sources: tuple[dict[str, Any], ...] = field(default=())
    reach: str | None = None  # "global": served worldwide (catalogue)


@dataclass(frozen=True)
class HostResult:
    country: str | None
    reasons: tuple[str, ...]
    findings: tuple[Finding, ...]
    sources: tuple[dict[str, Any], ...]


def verdict(findings) -> str:
    severities = {f.severity for f in findings}
    if "violation" in severities:
        return "violation"
    return "warning" if "warning" in severities else "ok"


def host_result(name: str, provider: Provider | None, region: str | None,
                declared: str | None, offer: str | None, policy: Policy) -> HostResult:
    """Locate one host and apply the host rules of ``policy``."""
    reasons: list[str] = []
    findings: list[Finding] = []

    def add(severity: str, rule: str, detail: str, var: str) -> None:
        findings.append(Finding(severity, rule, name, detail, name, var))

    country = declared
    sources: tuple[dict[str, Any], ...] = ()
    if provider is None:
        severity = policy.unknown_location if policy.require_eu_parent else "warning"
        add(severity, "host-provider-missing",
            "no sov_provider: the host's owner and region cannot be checked", "sov_provider")
    elif provider.is_local:
        reasons.append(f"{provider.name}: country as declared in sov_country")
        if policy.require_eu_parent or policy.require_qualification:
            add("info", "host-self-hosted",
                f"{provider.name}: owner and qualification checks do not apply", "sov_provider")
    else:
        sources = tuple(f.as_dict() for f in provider.facts.values())
        country = _cloud_country(name, provider, region, declared, reasons, add)
        if policy.require_eu_parent:
            _owner_rules(provider, policy, add)
        if policy.require_qualification:
            _qualification_rule(provider, region, offer, policy.require_qualification, add)
    if country is None:
        add(policy.unknown_location, "host-location-unknown",
            "no sov_region or sov_country: the host's country is unknown", "sov_country")
    elif country not in policy.countries:
        add("violation", "host-country-not-allowed",
            f"the host is in {country}, outside the countries of policy {policy.name}",
            "sov_region" if region else "sov_country")
    return HostResult(country, tuple(reasons), tuple(findings), sources)


def _cloud_country(name, provider, region, declared, reasons, add) -> str | None:
    if region is None:
        add("warning", "host-region-missing",
            f"no sov_region for {provider.name}: the country is only declared", "sov_region")
        return declared
    where = provider.regions[region]
    reasons.append(f"{provider.name} region {region} ({where.city}) is in {where.country}")
    if declared is not None and declared != where.country:
        add("violation", "host-country-mismatch",
            f"sov_country is {declared} but {provider.name} region {region} is in "
            f"{where.country}", "sov_country")
    return where.country


def _owner_rules(provider: Provider, policy: Policy, add) -> None:
    outside = [f"{label} {who} ({country})" for label, (who, country) in
               (("legal seat", provider.seat), ("ultimate parent", provider.parent))
               if country not in policy.parent_countries]
    if outside:
        add("violation", "host-owner-outside",
            f"{provider.name}: {' and '.join(outside)} outside the allowed owner "
            "countries (extraterritorial reach, e.g. the US CLOUD Act)", "sov_provider")
    if provider.technology and provider.technology[1] not in policy.parent_countries:
        add("info", "host-foreign-technology",
            f"{provider.name} runs technology of {provider.technology[0]} "
            f"({provider.technology[1]})", "sov_provider")


def _qualification_rule(provider, region, offer, scheme, add) -> None:
    qualified = [q for q in provider.qualifications if q.scheme == scheme]
    offers = ", ".join(sorted({q.offer for q in qualified}))
    if not qualified:
        add("violation", "host-not-qualified",
            f"{provider.name} has no offer qualified under {scheme}", "sov_provider")
        return
    match = next((q for q in qualified if q.offer == offer), None)
    if offer is None or match is None:
        told = "no sov_offer" if offer is None else f"offer {offer!r} is not qualified"
        add("violation", "host-not-qualified",
            f"{told}: {provider.name}'s {scheme} offers are {offers}", "sov_offer")
    elif match.regions and region not in match.regions:
        add("violation", "host-not-qualified",
            f"{match.name} is qualified only in regions {', '.join(match.regions)}, "
            f"not {region}", "sov_region")


# What an endpoint of each purpose receives when the deployment uses it: these never
# carry users' data or metadata (package and artifact downloads, time, certificate
# issuance for the public names); every other purpose does (STUN/TURN sees who calls
# whom, DNS every name looked up, SMTP, OIDC, backups, webhooks, text services).
NO_USER_DATA = frozenset({"apt", "artifact", "ntp", "acme"})


def endpoint_findings(subject: str, loc: Location, policy: Policy,
                      host: str, var: str, purpose: str) -> list[Finding]:
    """Apply the endpoint rules of ``policy`` to one located endpoint."""
    if loc.basis == "internal":
        return []
    out = []
    if loc.country is None and loc.reach == "global":
        # Served worldwide is not "unknown": the data may leave the allowed countries.
        carries = purpose not in NO_USER_DATA
        severity = "violation" if carries else policy.unknown_location
        what = (f"it receives users' data or metadata ({purpose})" if carries
                else f"it receives no user data ({purpose})")
        out.append(Finding(severity, "endpoint-served-globally", subject,
                           f"served worldwide (anycast or CDN), outside the countries of "
                           f"policy {policy.name} too; {what}", host, var))
    elif loc.country is None:
        why = ("served from many places, no fixed country" if loc.basis == "catalogue"
               else loc.summary)
        out.append(Finding(policy.unknown_location, "endpoint-location-unknown", subject,
                           f"location unknown: {why}", host, var))
    elif loc.country not in policy.countries:
        out.append(Finding("violation", "endpoint-country-not-allowed", subject,
                           f"answers from {loc.country}, outside the countries of policy "
                           f"{policy.name}", host, var))
    if policy.require_eu_parent:
        out += _endpoint_owner(subject, loc, policy, host, var)
    return out


def _endpoint_owner(subject, loc, policy, host, var) -> list[Finding]:
    owners = [(label, c) for label, c in (("operator", loc.operator_country),
                                          ("ultimate parent", loc.parent_country)) if c]
    if not owners:
        return [Finding(policy.unknown_location, "endpoint-owner-unknown", subject,
                        f"operator unknown ({loc.operator or 'not declared'})", host, var)]
    outside = [f"{label} in {c}" for label, c in owners if c not in policy.parent_countries]
    if not outside:
        return []
    return [Finding("violation", "endpoint-owner-outside", subject,
                    f"{loc.operator or 'the operator'}: {' and '.join(outside)}, outside the "
                    "allowed owner countries (extraterritorial reach)", host, var)]
