"""The JSON report's layout: the same data as json.dumps, one row per line."""

from __future__ import annotations

import json

from sovctl.audit.reports import json_report


def test_the_json_report_is_the_report_one_row_per_line() -> None:
    report = {
        "policy": "eu-residency",
        "summary": {"hosts": 2, "endpoints": 1, "violations": 0, "warnings": 0},
        "hosts": [{"name": "h1", "reasons": ["é"]}, {"name": "h2", "reasons": []}],
        "endpoints": [{"url": "stun:h1:3478", "used_by": ["h1", "h2"]}],
        "findings": [],
        "meta": {"sources": {"hosts": {"h1": [{"a": 1}]}}, "locations": [], "x": None},
    }
    text = json_report.render(report)
    assert json.loads(text) == report
    assert text.endswith("}\n") and "é" in text
    lines = text.splitlines()
    assert '    {"name": "h1", "reasons": ["é"]},' in lines
    assert '    {"url": "stun:h1:3478", "used_by": ["h1", "h2"]}' in lines
    assert '  "findings": [],' in lines
