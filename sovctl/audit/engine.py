"""Build the audit report: the dict of the residency audit contract (docs/architecture.md).

Pure: inventory facts, a policy and the catalogues in, the report dict out.
Contract keys are exactly policy, summary, hosts, endpoints, findings; anything
else lives under "meta" (evidence: tool version, time, inventory hash, policy
file, sources of every catalogue fact, the file and field behind each finding).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from sovctl.audit.catalogue import KnownEndpoint, Policy, Provider
from sovctl.audit.geoip import GeoIP
from sovctl.audit.inputs import AuditInput, EndpointUse, HostFacts
from sovctl.audit.live import Observed
from sovctl.audit.locate import Knowledge, locate
from sovctl.audit.observed import compare
from sovctl.audit.rules import (
    SEVERITIES,
    Finding,
    HostResult,
    endpoint_findings,
    host_result,
    verdict,
)
from sovctl.audit.targets import parse_target
from sovctl.errors import EXIT_AUDIT_BAD_INPUT, InputError


@dataclass(frozen=True)
class Evidence:
    """What makes a report worth keeping: who made it, when, from which inputs."""

    tool_version: str
    generated_at: str  # UTC, ISO 8601
    inventory_sha256: str
    inventory_files: int


@dataclass
class _Endpoint:
    purpose: str
    raw: str
    # the hosts tuples of its uses, each once (uses of one class of hosts share theirs)
    host_sets: dict[int, tuple[str, ...]] = field(default_factory=dict)
    origins: set[tuple[str, str]] = field(default_factory=set)  # (var, origin)
    fallbacks: set[str] = field(default_factory=set)
    first: tuple[str, str] | None = None  # (host, var) to point a user at


def check_hosts(inputs: AuditInput, providers: dict[str, Provider]) -> None:
    """Unknown provider keys and regions are bad input (exit 2), not findings."""
    for h in inputs.hosts:
        if h.provider is not None and h.provider not in providers:
            raise InputError(
                f"unknown provider {h.provider!r}", file=inputs.locate(h.name, "sov_provider"),
                field=f"hosts.{h.name}.sov_provider", exit_code=EXIT_AUDIT_BAD_INPUT,
                hint=f"use a key of the provider catalogue: {', '.join(sorted(providers))}")
        provider = providers.get(h.provider) if h.provider else None
        if provider and not provider.is_local and h.region and h.region not in provider.regions:
            raise InputError(
                f"unknown region {h.region!r} of provider {h.provider}",
                file=inputs.locate(h.name, "sov_region"), field=f"hosts.{h.name}.sov_region",
                exit_code=EXIT_AUDIT_BAD_INPUT,
                hint=f"regions of {h.provider}: {', '.join(sorted(provider.regions))}")


def audit(inputs: AuditInput, policy: Policy, providers: dict[str, Provider],
          known: tuple[KnownEndpoint, ...], evidence: Evidence, *,
          geoip: GeoIP | None = None, observed: list[Observed] | None = None) -> dict[str, Any]:
    """The report dict; ``observed`` (from ``--live``) adds what the hosts really use."""
    check_hosts(inputs, providers)
    results = _host_results(inputs.hosts, providers, policy)
    knowledge = Knowledge(known, inputs.declared, _internal(inputs.hosts, results), geoip)
    extra_uses: list[EndpointUse] = []
    extra_findings: list[Finding] = []
    live_meta = None
    if observed is not None:
        countries = {name: r.country for name, r in results.items()}
        extra_uses, extra_findings, live_meta = compare(observed, inputs, countries, knowledge)
    endpoints = _aggregate([*inputs.uses, *extra_uses])
    host_findings = [f for r in results.values() for f in r.findings] + list(extra_findings)
    ep_rows, ep_findings, ep_sources = _endpoint_rows(endpoints, knowledge, policy)
    findings = sorted([*host_findings, *ep_findings],
                      key=lambda f: (SEVERITIES.index(f.severity), f.rule, f.subject))
    hosts = _host_rows(inputs.hosts, results, host_findings)
    return {
        "policy": policy.name,
        "summary": {"hosts": len(hosts), "endpoints": len(ep_rows),
                    "violations": sum(f.severity == "violation" for f in findings),
                    "warnings": sum(f.severity == "warning" for f in findings)},
        "hosts": hosts,
        "endpoints": ep_rows,
        "findings": [{"severity": f.severity, "rule": f.rule, "subject": f.subject,
                      "detail": f.detail} for f in findings],
        "meta": _meta(inputs, policy, evidence, results, ep_sources, findings, live_meta),
    }


def _host(h: HostFacts, providers: dict[str, Provider], policy: Policy) -> HostResult:
    return host_result(h.name, providers.get(h.provider) if h.provider else None,
                       h.region, h.country, h.offer, policy)


def _host_results(hosts, providers: dict[str, Provider], policy: Policy) -> dict[str, HostResult]:
    """Each host's result; hosts with the same facts get the same one, under their name
    (the rules read a host's facts, never its name)."""
    memo: dict[tuple, HostResult] = {}
    results = {}
    for h in hosts:
        key = (h.provider, h.region, h.country, h.offer)
        if key not in memo:
            memo[key] = _host(h, providers, policy)
        result = memo[key]
        if result.findings and result.findings[0].subject != h.name:
            result = replace(result, findings=tuple(replace(f, subject=h.name, host=h.name)
                                                    for f in result.findings))
        results[h.name] = result
    return results


def _internal(hosts, results) -> dict[str, tuple[str, str | None]]:
    found: dict[str, tuple[str, str | None]] = {}
    for h in hosts:
        for key in (h.name, h.address, *h.published):
            if key:
                found[key.lower()] = (h.name, results[h.name].country)
    return found


def _aggregate(uses) -> dict[tuple[str, str], _Endpoint]:
    endpoints: dict[tuple[str, str], _Endpoint] = {}
    displays: dict[tuple[str, str], str] = {}
    for use in uses:
        display = displays.get((use.value, use.purpose))
        if display is None:
            display = displays[use.value, use.purpose] = parse_target(
                use.value, use.purpose).display
        ep = endpoints.setdefault((display, use.purpose), _Endpoint(use.purpose, use.value))
        ep.host_sets.setdefault(id(use.hosts), use.hosts)
        ep.origins.add((use.var, use.origin))
        if use.fallback_reason:
            ep.fallbacks.add(f"{use.fallback_reason} ({use.var} is empty)")
        if ep.first is None:
            ep.first = (use.hosts[0], use.var)
    return endpoints


class _UsedBy:
    """The sorted hosts of an endpoint; endpoints used by the same classes of hosts (every
    TURN relay LiveKit hands out, used by every LiveKit host) share one list."""

    def __init__(self) -> None:
        self._lists: dict[tuple[int, ...], list[str]] = {}

    def __call__(self, ep: _Endpoint) -> list[str]:
        key = tuple(sorted(ep.host_sets))
        if key not in self._lists:
            sets = list(ep.host_sets.values())
            names = set(sets[0]).union(*sets[1:]) if len(sets) > 1 else set(sets[0])
            self._lists[key] = sorted(names)
        return self._lists[key]


def _endpoint_rows(endpoints, knowledge: Knowledge, policy: Policy):
    rows, findings, sources = [], [], {}
    used_by = _UsedBy()
    for (display, purpose), ep in sorted(endpoints.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        target = parse_target(ep.raw, purpose)
        if target.host is None:  # a local path (a backup directory): not an external endpoint
            continue
        loc = locate(target, ep.raw, knowledge)
        host, var = ep.first
        found = endpoint_findings(display, loc, policy, host, var, purpose)
        found += [Finding("info", "endpoint-software-fallback", display, reason, host, var)
                  for reason in sorted(ep.fallbacks)]
        findings += found
        reasons = sorted(ep.fallbacks) or [
            f"from {var_} ({origin})" for var_, origin in sorted(ep.origins)]
        rows.append({
            "url": display, "purpose": purpose, "used_by": used_by(ep),
            "country": loc.country, "verdict": verdict(found),
            "reasons": [*reasons, *([loc.summary] if loc.basis != "unknown" else []),
                        *(f.detail for f in found if f.severity != "info")],
        })
        sources[display] = list(loc.sources)
    return rows, findings, sources


def _host_rows(hosts, results, findings) -> list[dict[str, Any]]:
    by_host: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_host[f.subject].append(f)
    rows = []
    for h in sorted(hosts, key=lambda x: x.name):
        mine = by_host.get(h.name, [])
        rows.append({
            "name": h.name, "provider": h.provider, "country": results[h.name].country,
            "region": h.region, "verdict": verdict(mine),
            "reasons": [*results[h.name].reasons, *(f.detail for f in mine)],
        })
    return rows


def _meta(inputs: AuditInput, policy: Policy, evidence: Evidence,
          results: dict[str, HostResult], ep_sources, findings,
          live_meta: dict[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "tool": {"name": "sovctl", "version": evidence.tool_version},
        "generated_at": evidence.generated_at,
        "mode": "static" if live_meta is None else "live",
        "inventory": {"path": str(inputs.inventory), "sha256": evidence.inventory_sha256,
                      "files": evidence.inventory_files},
        "policy": policy.as_meta(),
        "sources": {"hosts": {n: list(r.sources) for n, r in sorted(results.items())
                              if r.sources},
                    "endpoints": ep_sources},
        "locations": [_location(inputs, f) for f in findings],
    }
    if live_meta is not None:
        meta["live"] = live_meta
    return meta


def _location(inputs: AuditInput, f: Finding) -> dict[str, str]:
    """The file and field a user edits to address a finding."""
    if f.host is None or f.var is None or f.var.startswith("live:"):
        return {"file": str(inputs.inventory), "field": f"hosts.{f.host or f.subject}"}
    return {"file": inputs.locate(f.host, f.var), "field": f"hosts.{f.host}.{f.var}"}

