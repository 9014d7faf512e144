"""sovctl deploy running Ansible for real (no containers needed)."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_unreachable_host_is_named_and_exit_is_nonzero(make_inventory, tmp_path):
    # 127.0.0.1:1 is loopback with nothing listening: SSH fails at once.
    inv = make_inventory()
    from sovctl import secrets

    secrets.ensure(inv)
    proc = subprocess.run(
        [sys.executable, "-m", "sovctl", "deploy", "-i", str(inv), "--service", "coturn"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert "Unreachable: turn1" in out
    # The run record lives with the inventory's state, not in the working directory.
    assert not (tmp_path / ".sovctl").exists()
    record = next((inv / ".sovctl" / "runs").glob("*.json")).read_text()
    for value in secrets.read_vault(inv).values():
        assert value not in out
        assert value not in record
