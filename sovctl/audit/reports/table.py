"""The terminal report: a summary line, a hosts table, an endpoints table, the findings."""

from __future__ import annotations

from typing import Any

MAX_USERS_SHOWN = 3


def safe(value: object) -> str:
    """Text for a terminal: non-printable characters (newlines, escape sequences,
    bidirectional overrides) escaped, so an inventory value cannot forge rows."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else (
        f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}") for ch in text)


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    rows = [[safe(x) for x in row] for row in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header).rstrip(), *(fmt.format(*r).rstrip() for r in rows)]


def _users(names: list[str]) -> str:
    if len(names) <= MAX_USERS_SHOWN:
        return ", ".join(names)
    return f"{', '.join(names[:MAX_USERS_SHOWN])} +{len(names) - MAX_USERS_SHOWN}"


def summary_line(report: dict[str, Any]) -> str:
    s = report["summary"]
    state = "COMPLIANT" if s["violations"] == 0 else "NOT COMPLIANT"
    return (f"Residency audit, policy {report['policy']}: {state}: {s['hosts']} hosts, "
            f"{s['endpoints']} endpoints, {s['violations']} violations, "
            f"{s['warnings']} warnings")


def render(report: dict[str, Any]) -> str:
    lines = [safe(summary_line(report)), ""]
    hosts = [[h["name"], h["provider"] or "-", h["region"] or "-", h["country"] or "?",
              h["verdict"]] for h in report["hosts"]]
    lines += _grid(["HOST", "PROVIDER", "REGION", "COUNTRY", "VERDICT"], hosts)
    lines.append("")
    endpoints = [[e["url"], e["purpose"], e["country"] or "?", e["verdict"],
                  _users(e["used_by"])] for e in report["endpoints"]]
    lines += _grid(["ENDPOINT", "PURPOSE", "COUNTRY", "VERDICT", "USED BY"], endpoints)
    findings = [f for f in report["findings"] if f["severity"] != "info"]
    if findings:
        lines += ["", "FINDINGS"]
        lines += [safe(f"  {f['severity']:<9}  {f['rule']}  {f['subject']}: {f['detail']}")
                  for f in findings]
    meta = report.get("meta", {})
    if meta:
        lines += ["", safe(f"inventory {meta['inventory']['path']} sha256 "
                           f"{meta['inventory']['sha256'][:16]}…, sovctl "
                           f"{meta['tool']['version']}, {meta['generated_at']}")]
    return "\n".join(lines) + "\n"
