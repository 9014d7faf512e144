"""SARIF 2.1.0 for CI code scanning: one result per finding, located at the inventory
file and field a user edits (violation -> error, warning -> warning, info -> note)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sovctl.audit.rules import RULES

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"violation": "error", "warning": "warning", "info": "note"}


def _uri(path: str) -> str:
    """Relative to the working directory when inside it (what code scanning expects)."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.as_posix() if not p.is_absolute() else p.resolve().as_uri()


def _result(finding: dict[str, Any], location: dict[str, str], index: int) -> dict[str, Any]:
    fingerprint = hashlib.sha256(
        f"{finding['rule']}\0{finding['subject']}".encode()).hexdigest()
    return {
        "ruleId": finding["rule"],
        "ruleIndex": index,
        "level": LEVELS[finding["severity"]],
        "message": {"text": f"{finding['subject']}: {finding['detail']}"},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": _uri(location["file"])}},
            "logicalLocations": [{"name": finding["subject"],
                                  "fullyQualifiedName": location["field"]}],
        }],
        "partialFingerprints": {"sovctlAuditFinding/v1": fingerprint},
    }


def render(report: dict[str, Any]) -> str:
    meta = report["meta"]
    used = sorted({f["rule"] for f in report["findings"]})
    rules = [{"id": r, "name": r, "shortDescription": {"text": RULES[r]}} for r in used]
    index = {r: i for i, r in enumerate(used)}
    results = [_result(f, loc, index[f["rule"]])
               for f, loc in zip(report["findings"], meta["locations"], strict=True)]
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "sovctl-audit", "version": meta["tool"]["version"],
                                "rules": rules}},
            "invocations": [{"executionSuccessful": True, "endTimeUtc": meta["generated_at"],
                             "workingDirectory": {"uri": Path(os.getcwd()).as_uri()}}],
            "results": results,
            "properties": {"policy": report["policy"], "summary": report["summary"],
                           "inventory": meta["inventory"]},
        }],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
