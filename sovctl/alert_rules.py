"""A site's own alert rule files (``monitoring_rule_files``), checked before any host is
touched: each must be a Prometheus rule file (``groups`` of named ``rules``, each an
``alert`` or a ``record`` with an ``expr``, durations Prometheus can read, labels and
annotations as text). The monitoring role then installs it only if ``promtool check rules``
accepts it on the monitoring host, which also parses every expression; this check catches,
with the file and the field named, what can be told without promtool.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sovctl.errors import InputError
from sovctl.untrusted_yaml import read_yaml_file

# Prometheus' duration: units from years to milliseconds, largest first, at least one.
DURATION = re.compile(r"^(?=\d)(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m(?!s))?(\d+s)?(\d+ms)?$")
NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
GROUP_KEYS = {"name", "interval", "rules", "limit", "query_offset", "labels"}
RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
PAIRS = {"(": ")", "[": "]", "{": "}"}


def _balanced(expr: str) -> bool:
    """Brackets balanced outside quoted strings (a PromQL expression's shape)."""
    stack, quote, escaped = [], None, False
    for ch in expr:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in PAIRS:
            stack.append(PAIRS[ch])
        elif ch in PAIRS.values() and (not stack or stack.pop() != ch):
            return False
    return not stack and quote is None


def _text_map(value: Any, field: str, key_pattern: re.Pattern) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [(field, "must be a mapping of names to text")]
    problems = []
    for key, text in value.items():
        if not isinstance(key, str) or not key_pattern.match(key):
            problems.append((f"{field}.{key}", "is not a valid label name"))
        elif not isinstance(text, str | int | float) or isinstance(text, bool):
            problems.append((f"{field}.{key}", "must be text"))
    return problems


def _rule_problems(rule: Any, field: str) -> list[tuple[str, str]]:
    if not isinstance(rule, dict):
        return [(field, "must be a mapping with alert (or record) and expr")]
    problems = [(f"{field}.{k}", f"unknown key (allowed: {', '.join(sorted(RULE_KEYS))})")
                for k in rule if k not in RULE_KEYS]
    kinds = [k for k in ("alert", "record") if k in rule]
    if len(kinds) != 1:
        problems.append((field, "needs exactly one of alert or record"))
    for kind in kinds:
        name = rule[kind]
        pattern = LABEL if kind == "alert" else NAME
        if not isinstance(name, str) or not pattern.match(name):
            problems.append((f"{field}.{kind}", f"{name!r} is not a valid {kind} name"))
    expr = rule.get("expr")
    if not isinstance(expr, str | int | float) or isinstance(expr, bool) or not str(expr).strip():
        problems.append((f"{field}.expr", "is missing or empty"))
    elif not _balanced(str(expr)):
        problems.append((f"{field}.expr", f"unbalanced brackets or quotes in {str(expr)!r}"))
    for key in ("for", "keep_firing_for"):
        if key in rule and not (isinstance(rule[key], str) and DURATION.match(rule[key])):
            problems.append((f"{field}.{key}",
                             f"{rule[key]!r} is not a duration such as 5m, 1h or 90s"))
    if "record" in rule and ("for" in rule or "annotations" in rule):
        problems.append((field, "a recording rule takes no for or annotations"))
    problems += _text_map(rule.get("labels"), f"{field}.labels", LABEL)
    problems += _text_map(rule.get("annotations"), f"{field}.annotations", LABEL)
    return problems


def problems(path: Path) -> list[tuple[str, str]]:
    """(field, message) for each problem of the rule file at ``path``; a file that cannot
    be read or parsed raises :class:`InputError` naming it (and the line)."""
    doc = read_yaml_file(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list) or not doc["groups"]:
        return [("groups", "a rule file holds a non-empty list `groups:`")]
    found = [(k, "unknown key (a rule file holds only groups)") for k in doc if k != "groups"]
    names = set()
    for i, group in enumerate(doc["groups"]):
        field = f"groups[{i}]"
        if not isinstance(group, dict):
            found.append((field, "must be a mapping with name and rules"))
            continue
        found += [(f"{field}.{k}", "unknown key") for k in group if k not in GROUP_KEYS]
        name = group.get("name")
        if not isinstance(name, str) or not name.strip():
            found.append((f"{field}.name", "is missing"))
        elif name in names:
            found.append((f"{field}.name", f"{name!r} is used by another group of the file"))
        names.add(name)
        if "interval" in group and not (isinstance(group["interval"], str)
                                        and DURATION.match(group["interval"])):
            found.append((f"{field}.interval", f"{group['interval']!r} is not a duration"))
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            found.append((f"{field}.rules", "must be a non-empty list"))
            continue
        for j, rule in enumerate(rules):
            found += _rule_problems(rule, f"{field}.rules[{j}]")
    return found


def check(path: Path) -> list[tuple[str, str]]:
    """:func:`problems`, with a file that cannot be read or parsed as one problem."""
    try:
        return problems(path)
    except InputError as exc:
        return [(exc.field or "file", f"is not a readable YAML rule file ({exc.message})")]
