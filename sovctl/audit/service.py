"""``sovctl audit`` without click: read the inputs, run the engine, return the report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sovctl import __version__
from sovctl.audit import catalogue, engine, hostvars, inputs
from sovctl.audit.geoip import load_geoip

DEFAULT_POLICY = "eu-residency"


@dataclass(frozen=True)
class AuditRequest:
    inventory: Path
    policy: str | None  # a shipped policy's name or a policy file; None: the inventory's
    policies_dir: Path
    roles_dir: Path | None
    live: bool = False
    geoip: Path | None = None


def run_audit(req: AuditRequest) -> dict:
    """The report dict; raises InputError (exit 2) on bad input."""
    view = hostvars.load(req.inventory)
    audit_input = inputs.read_inputs(view, catalogue.load_registry(), req.roles_dir)
    policy = catalogue.load_policy(catalogue.resolve_policy_path(
        req.policy or audit_input.policy_name or DEFAULT_POLICY, req.policies_dir))
    providers = catalogue.load_providers()
    known = catalogue.load_endpoints()
    geoip = load_geoip(req.geoip) if req.geoip else None
    digest, count = hostvars.inventory_sha256(req.inventory)
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    observed = None
    if req.live:
        from sovctl.audit import live

        observed = live.collect(req.inventory, [h.name for h in audit_input.hosts])
    evidence = engine.Evidence(__version__, now, digest, count)
    return engine.audit(audit_input, policy, providers, known, evidence, geoip=geoip,
                        observed=observed)
