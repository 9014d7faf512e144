"""The auditor's report: one standalone HTML file that opens with no network.

Inline CSS, inline SVG, no script, no font, no image, no link to another host:
source pages are printed as text, never as links or assets.
"""

from __future__ import annotations

from typing import Any

import jinja2
from markupsafe import Markup

from sovctl.audit.reports.diagram import svg
from sovctl.audit.reports.table import summary_line
from sovctl.audit.rules import RULES

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Residency audit: {{ r.policy }} ({{ m.generated_at }})</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1d2733; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { border: 1px solid #d0d7de; padding: .3em .5em; text-align: left;
         vertical-align: top; }
th { background: #f3f5f7; }
.ok { color: #2e7d32; font-weight: 600; } .warning { color: #ed6c02; font-weight: 600; }
.violation { color: #c62828; font-weight: 600; } .info { color: #607d8b; }
.banner { padding: .8em 1em; border-radius: 6px; font-weight: 600; }
.banner.pass { background: #e8f5e9; } .banner.fail { background: #fdecea; }
ul { margin: 0; padding-left: 1.2em; } code, .src { font-size: 12px; color: #455a64; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; }
dt { font-weight: 600; } dd { margin: 0; }
svg { max-width: 100%; height: auto; border: 1px solid #d0d7de; border-radius: 6px; }
svg .t { font: 600 12px system-ui, sans-serif; fill: #1d2733; }
svg .s { font: 11px system-ui, sans-serif; fill: #455a64; }
svg .h { font: 600 14px system-ui, sans-serif; fill: #1d2733; }
</style>
</head>
<body>
<h1>Data-residency audit</h1>
<p class="banner {{ 'pass' if r.summary.violations == 0 else 'fail' }}">{{ summary }}</p>
<h2>Evidence</h2>
<dl>
<dt>Policy</dt><dd>{{ r.policy }}: {{ m.policy.source }}
  (sha256 <code>{{ m.policy.sha256 }}</code>)</dd>
<dt>Countries</dt><dd>{{ m.policy.countries | join(", ") }}</dd>
<dt>Owner check</dt><dd>{{ "required: " ~ (m.policy.parent_countries | join(", "))
  if m.policy.require_eu_parent else "not required" }}</dd>
<dt>Qualification</dt><dd>{{ m.policy.require_qualification or "not required" }}</dd>
<dt>Inventory</dt><dd>{{ m.inventory.path }} ({{ m.inventory.files }} files, sha256
  <code>{{ m.inventory.sha256 }}</code>)</dd>
<dt>Mode</dt><dd>{{ m.mode }}</dd>
<dt>Tool</dt><dd>sovctl {{ m.tool.version }}</dd>
<dt>Generated</dt><dd>{{ m.generated_at }}</dd>
</dl>
<h2>Data flows</h2>
{{ diagram }}
<h2>Hosts ({{ r.hosts | length }})</h2>
<table>
<tr><th>Host</th><th>Provider</th><th>Region</th><th>Country</th><th>Verdict</th>
<th>Reasons</th><th>Sources</th></tr>
{% for h in r.hosts %}<tr><td>{{ h.name }}</td><td>{{ h.provider or "-" }}</td>
<td>{{ h.region or "-" }}</td><td>{{ h.country or "?" }}</td>
<td class="{{ h.verdict }}">{{ h.verdict }}</td>
<td><ul>{% for x in h.reasons %}<li>{{ x }}</li>{% endfor %}</ul></td>
<td>{% for s in m.sources.hosts.get(h.name, []) %}<div class="src">{{ s.fact }}: {{ s.source }}
(checked {{ s.checked or "not yet" }})</div>{% endfor %}</td></tr>
{% endfor %}</table>
<h2>External endpoints ({{ r.endpoints | length }})</h2>
<table>
<tr><th>Endpoint</th><th>Purpose</th><th>Country</th><th>Verdict</th><th>Used by</th>
<th>Reasons</th><th>Sources</th></tr>
{% for e in r.endpoints %}<tr><td><code>{{ e.url }}</code></td><td>{{ e.purpose }}</td>
<td>{{ e.country or "?" }}</td><td class="{{ e.verdict }}">{{ e.verdict }}</td>
<td>{{ e.used_by | length }} host{{ "" if e.used_by | length == 1 else "s" }}:
{{ e.used_by[:10] | join(", ") }}{{ " …" if e.used_by | length > 10 else "" }}</td>
<td><ul>{% for x in e.reasons %}<li>{{ x }}</li>{% endfor %}</ul></td>
<td>{% for s in m.sources.endpoints.get(e.url, []) %}<div class="src">{{ s.fact }}: {{ s.source }}
(checked {{ s.checked or "not yet" }})</div>{% endfor %}</td></tr>
{% endfor %}</table>
<h2>Findings ({{ r.findings | length }})</h2>
<table>
<tr><th>Severity</th><th>Rule</th><th>Subject</th><th>Detail</th><th>Where to fix</th></tr>
{% for f in r.findings %}<tr><td class="{{ f.severity }}">{{ f.severity }}</td>
<td title="{{ rules[f.rule] }}">{{ f.rule }}</td><td>{{ f.subject }}</td><td>{{ f.detail }}</td>
<td class="src">{{ m.locations[loop.index0].file }}<br>
{{ m.locations[loop.index0].field }}</td></tr>
{% endfor %}</table>
<h2>Rules</h2>
<dl>{% for id, text in rules.items() %}<dt>{{ id }}</dt><dd>{{ text }}</dd>{% endfor %}</dl>
</body>
</html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def render(report: dict[str, Any]) -> str:
    return _ENV.from_string(TEMPLATE).render(
        r=report, m=report["meta"], summary=summary_line(report),
        diagram=Markup(svg(report)), rules=RULES)  # noqa: S704 - svg() escapes every text
