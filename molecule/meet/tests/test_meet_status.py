"""`sovctl status` lists the meeting app among the services of a meet host."""

import os
import re
import subprocess
import sys
from pathlib import Path


def test_sovctl_status_reports_the_meeting_app_up():
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    env = {**os.environ, "SOVCTL_VAULT_PASSWORD_FILE": str(scenario / ".vault-pass")}
    proc = subprocess.run(
        [sys.executable, "-m", "sovctl", "status", "-i", os.environ["MOLECULE_INVENTORY_FILE"]],
        capture_output=True, text=True, timeout=300, env=env)
    out = proc.stdout + proc.stderr
    assert re.search(r"^meet-host1\s+sovmeet\s+up\b", out, re.M), out
    for unit in ("keycloak", "livekit", "coturn", "nginx"):
        # up, with its version (package, or the artifact under /opt/<unit>/current)
        assert re.search(rf"^meet-host1\s+{unit}\s+up\s+\d", out, re.M), out
    assert proc.returncode == 0, out
