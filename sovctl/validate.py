"""Validate an inventory before any host is touched.

Checks the site-wide ``sov_`` variables and, for each host, the variables of the
roles that the playbooks apply to its groups against each role's
``meta/argument_specs.yml``. Every problem names the file, the field and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from sovctl.errors import InputError
from sovctl.inventory import Inventory
from sovctl.paths import project_root

FQDN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
# Port variables a service connects to rather than listens on.
CLIENT_PORT_MARKERS = ("_db_", "_smtp_", "_redis_")


@dataclass
class Problem:
    file: str
    field: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}\n  Hint: {self.hint}"


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@cache
def role_specs() -> dict[str, dict]:
    specs = {}
    for spec_file in sorted((project_root() / "roles").glob("*/meta/argument_specs.yml")):
        data = yaml.safe_load(spec_file.read_text()) or {}
        main = (data.get("argument_specs") or {}).get("main") or {}
        specs[spec_file.parent.parent.name] = main.get("options") or {}
    return specs


@cache
def group_roles() -> dict[str, tuple[str, ...]]:
    """Which roles the playbooks apply to which host group (plays target one group each)."""
    mapping: dict[str, list[str]] = {}
    for playbook in sorted((project_root() / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(playbook.read_text()) or []:
            if not isinstance(play, dict) or "hosts" not in play:
                continue
            roles = [r["role"] if isinstance(r, dict) else r for r in play.get("roles") or []]
            pattern = str(play["hosts"])
            if "{{" in pattern:  # a templated pattern: the groups are its quoted literals
                pattern = ":".join(re.findall(r"'([^']*)'", pattern))
            for group in pattern.replace(",", ":").split(":"):
                group = group.strip().lstrip("&!")
                if not group:
                    continue
                bucket = mapping.setdefault(group, [])
                bucket += [r for r in roles if r not in bucket]
    return {g: tuple(r) for g, r in mapping.items()}


def where_defined(inv: Inventory, host: str, groups: list[str], var: str) -> str:
    """The inventory file that sets ``var`` for ``host`` (most specific first)."""
    base = inv.path if inv.path.is_dir() else inv.path.parent
    candidates = [base / "host_vars" / host] + [base / "group_vars" / g
                                                for g in reversed(groups + ["all"])]
    for cand in candidates:
        files = sorted(cand.rglob("*")) if cand.is_dir() else [
            p for p in (cand, cand.with_suffix(".yml"), cand.with_suffix(".yaml")) if p.is_file()]
        for f in files:
            if f.is_file() and re.search(rf"^\s*{re.escape(var)}\s*:", _text(f), re.M):
                return str(f)
    hosts_files = [inv.path] if inv.path.is_file() else sorted(
        p for p in base.iterdir() if p.is_file() and not p.name.startswith("."))
    for f in hosts_files:
        if re.search(rf"\b{re.escape(var)}\s*[:=]", _text(f)):
            return str(f)
    return str(inv.path)


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def check_sov_vars(inv: Inventory) -> list[Problem]:
    problems = []
    from sovctl.audit.catalogue import load_providers

    known = load_providers()
    for host in inv.hosts.values():
        v = host.vars

        def bad(var, msg, hint, host=host):
            problems.append(Problem(where_defined(inv, host.name, host.groups, var),
                                    f"{var} (host {host.name})", msg, hint))

        dom = v.get("sov_domain")
        if dom is not None and not _is_template(dom) and not (
                isinstance(dom, str) and FQDN.match(dom)):
            bad("sov_domain", f"not a DNS domain name: {dom!r}",
                "set sov_domain to the site's domain, e.g. collab.example.eu")
        country = v.get("sov_country")
        if country is not None and not (isinstance(country, str) and COUNTRY.match(country)):
            bad("sov_country", f"not an ISO 3166-1 alpha-2 code: {country!r}",
                "use two capital letters, e.g. FR, DE, NL")
        provider = v.get("sov_provider")
        region = v.get("sov_region")
        if provider is not None and provider not in known:
            bad("sov_provider", f"unknown provider {provider!r}",
                "use a key of the provider catalogue: " + ", ".join(sorted(known)))
        elif provider is not None and region is not None and not known[provider].is_local \
                and region not in known[provider].regions:
            bad("sov_region", f"unknown region {region!r} of provider {provider!r}",
                f"use one of: {', '.join(sorted(known[provider].regions))}")
    return problems


def _validate_value(name: str, spec: dict, value: Any) -> str | None:
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    clean = {k: v for k, v in spec.items() if k in (
        "type", "elements", "choices", "options", "no_log")}
    result = ArgumentSpecValidator({name: clean}).validate({name: value})
    if result.error_messages:
        msg = result.error_messages[0]
        return msg.replace(f"argument '{name}'", "value").replace(f"'{name}'", "value")
    return None


def check_role_vars(inv: Inventory) -> list[Problem]:
    problems = []
    specs = role_specs()
    mapping = group_roles()
    for host in inv.hosts.values():
        roles = {r for g in host.groups + ["all"] for r in mapping.get(g, ())}
        for role in sorted(roles):
            for name, spec in (specs.get(role) or {}).items():
                if name not in host.vars or _is_template(host.vars[name]):
                    continue
                value = host.vars[name]
                if isinstance(value, list) and any(_is_template(x) for x in value):
                    continue
                err = _validate_value(name, spec, value)
                if err:
                    shown = "<hidden>" if spec.get("no_log") else repr(value)
                    problems.append(Problem(
                        where_defined(inv, host.name, host.groups, name),
                        f"{name} (host {host.name})", f"{err} (got {shown})",
                        f"{role}: {spec.get('description', '')} "
                        f"Expected type {spec.get('type', 'str')}"
                        + (f", one of {spec['choices']}" if spec.get("choices") else "") + "."))
    return problems


def _roles_of(host) -> set[str]:
    mapping = group_roles()
    return {r for g in host.groups + ["all"] for r in mapping.get(g, ())}


def check_ports(inv: Inventory) -> list[Problem]:
    """Two services of one host must not claim the same port."""
    problems = []
    specs = role_specs()
    for host in inv.hosts.values():
        claims: dict[int, list[str]] = {}
        for role in sorted(_roles_of(host)):
            for name, spec in (specs.get(role) or {}).items():
                if not name.endswith("_port") or spec.get("type") != "int" or any(
                        client in name for client in CLIENT_PORT_MARKERS):
                    continue
                value = host.vars.get(name, spec.get("default"))
                if isinstance(value, int) and value > 0:
                    claims.setdefault(value, []).append(name)
        for port, names in sorted(claims.items()):
            if len(names) > 1:
                set_here = next((n for n in names if n in host.vars), names[-1])
                problems.append(Problem(
                    where_defined(inv, host.name, host.groups, set_here),
                    f"{set_here} (host {host.name})",
                    f"port {port} is claimed by {' and '.join(names)}",
                    "give each service of this host its own port"))
    return problems


def check_secrets(inv: Inventory) -> list[Problem]:
    """Every generated secret that a role of this inventory uses must be in the vault."""
    from sovctl.secrets import VAULT_RELPATH, catalogue

    base = inv.path if inv.path.is_dir() else inv.path.parent
    problems = []
    used = {r for h in inv.hosts.values() for r in _roles_of(h)}
    for name, spec in catalogue().items():
        if spec.get("used_by") not in used:
            continue
        missing = [h.name for h in inv.hosts.values()
                   if spec["used_by"] in _roles_of(h) and not h.vars.get(name)]
        if missing:
            problems.append(Problem(
                str(base / VAULT_RELPATH), name,
                f"missing (needed by {spec['used_by']} on {', '.join(missing)})",
                f"run `sovctl secrets ensure -i {base}` to generate it"))
    return problems


def validate(inv: Inventory) -> list[Problem]:
    return check_sov_vars(inv) + check_role_vars(inv) + check_ports(inv) + check_secrets(inv)


def raise_on_problems(problems: list[Problem], exit_code: int | None = None) -> None:
    if not problems:
        return
    first, rest = problems[0], problems[1:]
    extra = "".join(f"\n{p}" for p in rest)
    raise InputError(f"{first.message}{extra}", file=first.file, field=first.field,
                     hint=first.hint + (f" ({len(problems)} problems in all)" if rest else ""),
                     exit_code=exit_code)
