"""Validate an inventory before any host is touched.

Checks the site-wide ``sov_`` variables and, for each host, the variables of the
roles that the playbooks apply to its groups against each role's
``meta/argument_specs.yml``. Every problem names the file, the field and the fix.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from sovctl import alert_rules
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


@cache
def known_variables() -> frozenset[str]:
    """Every variable name sovctl knows: role defaults, argument specs, the endpoint
    registry, the secrets catalogue, and every name the roles and playbooks use."""
    root = project_root()
    names: set[str] = set()
    for spec in role_specs().values():
        names.update(spec)
    for defaults in (root / "roles").glob("*/defaults/main.yml"):
        data = yaml.safe_load(defaults.read_text()) or {}
        if isinstance(data, dict):
            names.update(str(k) for k in data)
    from sovctl.audit.catalogue import DATA_DIR
    from sovctl.secrets import catalogue

    registry = yaml.safe_load((DATA_DIR / "endpoint_vars.yml").read_text()) or {}
    names.update(registry.get("variables") or {})
    names.update(registry.get("published_names") or {})
    names.update(catalogue())
    word = re.compile(r"\b([a-z][a-z0-9]*_[a-z0-9_]+)\b")
    prefixes = role_prefixes()
    own = Path(__file__).resolve().parent  # sovctl itself reads sov_ variables too
    for path in [*(root / "roles").rglob("*"), *(root / "playbooks").rglob("*.yml"),
                 *own.rglob("*.py"), *own.glob("data/*.yml")]:
        if path.is_file() and path.suffix in (".yml", ".yaml", ".j2", ".py"):
            names.update(n for n in word.findall(path.read_text(errors="replace"))
                         if n.startswith(prefixes))
    return frozenset(names)


@cache
def role_prefixes() -> tuple[str, ...]:
    roles = sorted(p.name for p in (project_root() / "roles").iterdir() if p.is_dir())
    return ("sov_", *(f"{r}_" for r in roles))


def check_unknown_vars(inv: Inventory) -> list[Problem]:
    """A variable with sov_ or a role's prefix that no role reads is a typo."""
    known = known_variables()
    prefixes = role_prefixes()
    problems, seen = [], set()
    for host in inv.hosts.values():
        for var in host.vars:
            if var in seen or var in known or not var.startswith(prefixes):
                continue
            seen.add(var)
            close = difflib.get_close_matches(var, known, n=1, cutoff=0.75)
            problems.append(Problem(
                where_defined(inv, host.name, host.groups, var), var,
                "unknown variable: no role reads it",
                f"did you mean {close[0]}?" if close else
                "check the name against the roles' defaults (roles/*/defaults/main.yml)"))
    return problems


def check_templates(inv: Inventory) -> list[Problem]:
    """Templates that sovctl or its roles evaluate stay within the subset it evaluates
    (never a lookup or a command)."""
    from sovctl.audit.hostvars import read_variables
    from sovctl.audit.safe_template import check_value

    problems, seen = [], set()
    checked: dict[int, tuple[Any, str | None]] = {}  # id(value) -> (value, problem)

    def problem_of(value: Any) -> str | None:
        if not isinstance(value, str | list | tuple | dict):
            return None
        if isinstance(value, str) and "{" not in value:
            return None  # not a template
        found = checked.get(id(value))
        if found is None or found[0] is not value:
            found = checked[id(value)] = (value, check_value(value))
        return found[1]

    for host in inv.hosts.values():
        if not any(problem_of(v) for v in host.vars.values()):
            continue  # no template of this host is outside the subset, read or not
        for var in read_variables(host.vars, role_prefixes()):
            problem = problem_of(host.vars[var])
            if problem and var not in seen:
                seen.add(var)
                problems.append(Problem(
                    where_defined(inv, host.name, host.groups, var), f"{var} (host {host.name})",
                    f"a template sovctl does not evaluate: {problem}",
                    "write the value itself, or use only variable references and the "
                    "filters listed in docs/inventory-validation.md"))
    return problems


def _port_ok(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def check_port_values(inv: Inventory) -> list[Problem]:
    """Ports are integers 1..65535 (not booleans); a min/max range is not inverted."""
    problems = []
    for host in inv.hosts.values():
        def bad(var, msg, hint, host=host):
            problems.append(Problem(where_defined(inv, host.name, host.groups, var),
                                    f"{var} (host {host.name})", msg, hint))

        for var, value in host.vars.items():
            if (var == "ansible_port" or var.endswith("_port")) and not _is_template(value):
                if value is None and var != "ansible_port":
                    continue
                if not _port_ok(value):
                    bad(var, f"not a port number: {value!r}",
                        "use an integer from 1 to 65535")
        for var, low in host.vars.items():
            if "_min_port" not in var:
                continue
            high_var = var.replace("_min_port", "_max_port")
            high = host.vars.get(high_var)
            if _port_ok(low) and _port_ok(high) and low > high:
                bad(var, f"inverted range: {var} {low} > {high_var} {high}",
                    f"make {var} at most {high_var}")
    return problems


def known_policies() -> list[str]:
    return sorted(p.stem for p in (project_root() / "policies").glob("*.yml"))


def check_sov_vars(inv: Inventory) -> list[Problem]:
    from sovctl.plan import SIZE_VARS, size_problem

    problems = []
    from sovctl.audit.catalogue import load_providers
    from sovctl.audit.countries import is_country

    known = load_providers()
    offers = sorted({q.offer for p in known.values() for q in p.qualifications})
    policies = known_policies()
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
        if country is not None and not _is_template(country) and not is_country(country):
            bad("sov_country", f"not an ISO 3166-1 alpha-2 country code: {country!r}",
                "use the country's two-letter ISO code, e.g. FR, DE, NL (GB, not UK)")
        provider = v.get("sov_provider")
        region = v.get("sov_region")
        if provider is not None and _is_template(provider):
            pass
        elif provider is not None and (not isinstance(provider, str) or provider not in known):
            bad("sov_provider", f"unknown provider {provider!r}",
                "use a key of the provider catalogue: " + ", ".join(sorted(known)))
        elif region is not None and not _is_template(region) and not isinstance(region, str):
            bad("sov_region", f"must be a string, not {type(region).__name__}",
                "use a region name of the provider catalogue")
        elif provider is not None and region is not None and not known[provider].is_local \
                and not _is_template(region) and region not in known[provider].regions:
            bad("sov_region", f"unknown region {region!r} of provider {provider!r}",
                f"use one of: {', '.join(sorted(known[provider].regions))}")
        policy = v.get("sov_policy")
        if policy is not None and not _is_template(policy) and policy not in policies:
            bad("sov_policy", f"unknown policy {policy!r}",
                f"use one of: {', '.join(policies)} (policies/)")
        for size_var in (*SIZE_VARS, "sov_planned_users"):
            problem = None if _is_template(v.get(size_var)) else size_problem(
                size_var, v.get(size_var))
            if problem:
                bad(size_var, problem, f"for `sovctl plan`, e.g. {size_var}: "
                    + ("200000" if size_var == "sov_planned_users" else "8"))
        offer = v.get("sov_offer")
        if offer not in (None, "") and not _is_template(offer) and offer not in offers:
            bad("sov_offer", f"unknown offer {offer!r}",
                f"use an offer of the provider catalogue: {', '.join(offers)}")
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
                if not err and spec.get("type") in ("int", "float") and isinstance(value, bool):
                    err = f"value is a boolean, not an {spec['type']}"
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


LOOPBACK_URL = re.compile(r"http://(127\.[0-9.]+|\[::1\]|localhost)(:[0-9]+)?(/|$)")


def check_alert_receivers(inv: Inventory) -> list[Problem]:
    """Alerts leave the monitoring host encrypted: a webhook is https:// (http:// only on the
    host's loopback), mail needs a relay."""
    problems = []
    for host in inv.hosts.values():
        receivers = host.vars.get("monitoring_receivers")
        if not isinstance(receivers, list) or "monitoring" not in host.groups:
            continue
        relay = host.vars.get("monitoring_smtp_relay", host.vars.get("sov_smtp_relay"))
        for i, receiver in enumerate(receivers):
            if not isinstance(receiver, dict) or _is_template(receiver):
                continue
            field = f"monitoring_receivers[{i}] (host {host.name})"
            where = where_defined(inv, host.name, host.groups, "monitoring_receivers")
            url = receiver.get("url")
            if receiver.get("type") == "webhook" and isinstance(url, str) and not _is_template(
                    url) and not (url.startswith("https://") or LOOPBACK_URL.match(url)):
                problems.append(Problem(where, field, f"the webhook {url!r} is not https://",
                                        "alerts leave the host over TLS: use an https:// URL "
                                        "(http:// only on 127.0.0.1)"))
            if receiver.get("type") == "email" and not relay:
                problems.append(Problem(where, field, "mail receivers need a mail relay",
                                        "set sov_smtp_relay (or monitoring_smtp_relay), "
                                        "e.g. smtp.example.org:587"))
    return problems


def check_alert_rule_files(inv: Inventory) -> list[Problem]:
    """A site's own alert rules (monitoring_rule_files, paths relative to the inventory
    directory, outside it: Ansible reads every file inside as an inventory source): each
    file exists and is a Prometheus rule file (sovctl.alert_rules)."""
    problems, seen = [], set()
    base = inv.path if inv.path.is_dir() else inv.path.parent
    for host in inv.hosts_in("monitoring"):
        files = host.vars.get("monitoring_rule_files")
        if files is None or _is_template(files):
            continue
        where = where_defined(inv, host.name, host.groups, "monitoring_rule_files")
        if not isinstance(files, list):
            problems.append(Problem(where, "monitoring_rule_files", "must be a list of paths",
                                    "e.g. monitoring_rule_files: [rules/site.yml]"))
            continue
        for i, name in enumerate(files):
            field = f"monitoring_rule_files[{i}]"
            if not isinstance(name, str) or not name.strip() or _is_template(name):
                problems.append(Problem(where, field, "must be a path",
                                        "a rule file's path, relative to the inventory"))
                continue
            path = (base / name).resolve()
            if path.is_relative_to(base.resolve()):
                problems.append(Problem(where, field, f"{name} is inside the inventory directory",
                                        "Ansible reads every file there as an inventory: keep "
                                        "rule files beside it, e.g. ../alert-rules/site.yml"))
                continue
            if (where, str(path)) in seen:
                continue
            seen.add((where, str(path)))
            if not path.is_file():
                problems.append(Problem(where, field, f"{path} does not exist",
                                        "give the rule file's path relative to the inventory "
                                        "directory"))
                continue
            problems += [Problem(str(path), rule_field, message,
                                 f"fix the rule file named by {field} in {where}; its format: "
                                 "https://prometheus.io/docs/prometheus/latest/configuration/"
                                 "alerting_rules/")
                         for rule_field, message in alert_rules.check(path)]
    return problems


def validate(inv: Inventory, *, secrets: bool = True, templates: bool = True) -> list[Problem]:
    """Every problem of the inventory's data (``secrets``: also the vault's completeness).

    ``templates``: judge the inventory's templates as untrusted input (check and audit,
    which never execute them). Commands that hand the inventory to Ansible (deploy,
    upgrade, backup) run its lookups anyway, as the operator's own configuration (an
    ``env`` lookup for a mirror URL, say): they pass False."""
    problems = ((check_templates(inv) if templates else []) + check_unknown_vars(inv)
                + check_sov_vars(inv) + check_port_values(inv) + check_role_vars(inv))
    problems += check_ports(inv) + check_alert_receivers(inv) + check_alert_rule_files(inv)
    return problems + (check_secrets(inv) if secrets else [])


def raise_on_problems(problems: list[Problem], exit_code: int | None = None) -> None:
    if not problems:
        return
    first, rest = problems[0], problems[1:]
    extra = "".join(f"\n{p}" for p in rest)
    raise InputError(f"{first.message}{extra}", file=first.file, field=first.field,
                     hint=first.hint + (f" ({len(problems)} problems in all)" if rest else ""),
                     exit_code=exit_code)
