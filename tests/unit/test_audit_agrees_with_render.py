"""The audit reads the value a role renders (issue 7, acceptance 2).

One inventory, two values of ``sov_stun_servers``: for each, LiveKit's config.yaml
is rendered from the role's template with the inventory's own variables, and the
audit is run on the same inventory. Changing the value in the inventory changes both
the STUN servers LiveKit hands clients and the audit's verdict on them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sovctl.audit.service import AuditRequest, run_audit
from sovctl.inventory import load_inventory
from tests.helpers import write
from tests.unit.test_livekit_role import INVENTORY, LIVEKIT, _render

ROOT = Path(__file__).resolve().parents[2]

BASE = """
    ---
    sov_provider: scaleway
    sov_region: fr-par
    sov_country: FR
    sov_domain: collab.example.fr
    sov_ntp_servers: [ptbtime1.ptb.de]
    sov_apt_mirror: http://10.0.0.80/debian
    sov_endpoint_locations:
      turn.collab.example.fr: {country: FR, operator: Example ministry, parent_country: FR}
    """


def _inventory(base: Path, stun: list[str]) -> Path:
    return write(base, {
        "hosts.yml": """
            ---
            all:
              children:
                conferencing:
                  hosts:
                    conf1: {}
            """,
        "group_vars/all.yml": BASE.rstrip(" ") + f"    sov_stun_servers: {stun}\n",
    })


def _rendered_stun(inventory: Path) -> list[str]:
    host_vars = load_inventory(inventory).hosts["conf1"].vars
    text = (LIVEKIT / "templates" / "config.yaml.j2").read_text()
    config = yaml.safe_load(_render(LIVEKIT, text, **(INVENTORY | {
        "sov_stun_servers": host_vars["sov_stun_servers"]})))
    return config["rtc"]["stun_servers"]


def _stun_verdicts(inventory: Path) -> dict[str, str]:
    report = run_audit(AuditRequest(inventory, "eu-sovereign", ROOT / "policies",
                                    roles_dir=None))
    return {e["url"]: e["verdict"] for e in report["endpoints"] if e["purpose"] == "stun"}


def test_changing_stun_in_the_inventory_changes_the_render_and_the_verdict(tmp_path):
    google = _inventory(tmp_path / "google", ["stun:stun.l.google.com:19302"])
    own = _inventory(tmp_path / "own", ["stun:turn.collab.example.fr:3478"])

    assert _rendered_stun(google) == ["stun.l.google.com:19302"]
    assert _stun_verdicts(google) == {"stun:stun.l.google.com:19302": "violation"}

    assert _rendered_stun(own) == ["turn.collab.example.fr:3478"]
    assert _stun_verdicts(own) == {"stun:turn.collab.example.fr:3478": "ok"}
