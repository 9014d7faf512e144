"""The terminal report: a summary line, a hosts table, an endpoints table, the findings."""

from __future__ import annotations

from typing import Any

MAX_USERS_SHOWN = 3


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
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
    lines = [summary_line(report), ""]
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
        lines += [f"  {f['severity']:<9}  {f['rule']}  {f['subject']}: {f['detail']}"
                  for f in findings]
    meta = report.get("meta", {})
    if meta:
        lines += ["", f"inventory {meta['inventory']['path']} sha256 "
                      f"{meta['inventory']['sha256'][:16]}…, sovctl {meta['tool']['version']}, "
                      f"{meta['generated_at']}"]
    return "\n".join(lines) + "\n"
