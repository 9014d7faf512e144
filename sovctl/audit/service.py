"""``sovctl audit`` without click: read the inputs, run the engine, return the report."""

from __future__ import annotations

import re
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


def inventory_of(view: hostvars.InventoryView):
    """The view as sovctl.inventory.Inventory, vault values left encrypted (placeholders).

    A value many hosts share (their groups' variables) is converted once, and the hosts
    share the result: validation reads it, never changes it."""
    from sovctl.inventory import Host, Inventory, plain_data, vault_password_file

    converted: dict[int, tuple[object, object]] = {}  # id(raw value) -> (raw, plain)

    def plain(value):
        if isinstance(value, bool | int | float) or value is None:
            return value
        if type(value) is str:
            return value
        seen = converted.get(id(value))
        if seen is None or seen[0] is not value:
            seen = converted[id(value)] = (value, plain_data(value, _text_or_placeholder))
        return seen[1]

    return Inventory(view.path, {hv.name: Host(hv.name, list(hv.groups),
                                               {str(k): plain(v) for k, v in hv.raw.items()})
                                 for hv in view.hosts}, vault_password_file(view.path))


def _text_or_placeholder(value):
    if isinstance(value, str):
        return str.__str__(value) if type(value) is not str else value
    return "<vault>"  # an encrypted value: validated as text, never decrypted here


def read_checked(req: AuditRequest):
    """(inputs, policy, providers): the inventory read and validated as ``check`` does
    (every problem but missing secrets), then the audit's own reading; InputError exit 2."""
    from sovctl.errors import EXIT_AUDIT_BAD_INPUT
    from sovctl.validate import raise_on_problems, validate

    view = hostvars.load(req.inventory)
    problems = validate(inventory_of(view), secrets=False)
    for p in problems:  # the audit contract's field names: hosts.<host>.<variable>
        m = re.fullmatch(r"(\S+) \(host (.+)\)", p.field)
        if m:
            p.field = f"hosts.{m[2]}.{m[1]}"
    raise_on_problems(problems, EXIT_AUDIT_BAD_INPUT)
    audit_input = inputs.read_inputs(view, catalogue.load_registry(), req.roles_dir)
    policy = catalogue.load_policy(catalogue.resolve_policy_path(
        req.policy or audit_input.policy_name or DEFAULT_POLICY, req.policies_dir))
    providers = catalogue.load_providers()
    engine.check_hosts(audit_input, providers)
    return audit_input, policy, providers


def run_audit(req: AuditRequest) -> dict:
    """The report dict; raises InputError (exit 2) on bad input."""
    audit_input, policy, providers = read_checked(req)
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
