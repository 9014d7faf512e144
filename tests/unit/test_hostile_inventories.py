"""Hostile inventories (issue 21, acceptance 1 and 3).

For each case of tests/unit/hostile_cases.py, ``sovctl check --offline`` and
``sovctl audit`` answer with the expected exit code and a message that names a file,
without a traceback; nothing creates the marker file, no content of a file outside
the inventory reaches the output, and the resource attacks run in a subprocess
limited to 1 GB of address space, each finishing within 10 s and 500 MB. Both
commands refuse exactly the same inventories (check and audit agree).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sovctl.cli import cli
from tests.unit.hostile_cases import CANARY, CASES, VALID, Case, make

LIMIT_AS = 1 << 30  # address space of a subprocess run
MAX_RSS_KB = 500 * 1024
TIMEOUT_S = 10


@pytest.fixture(scope="module")
def base(vaulted_example) -> Path:
    return vaulted_example


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def run_sovctl(args: list[str], heavy: bool) -> tuple[int, str]:
    """(exit code, stdout + stderr) of ``sovctl ARGS``."""
    if not heavy:
        result = CliRunner().invoke(cli, args, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"sovctl {args} raised {result.exception!r}\n{result.output}")
        return result.exit_code, result.output
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sovctl", *args], capture_output=True,
                          text=True, timeout=TIMEOUT_S, preexec_fn=_limit, check=False)
    elapsed = time.monotonic() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert elapsed < TIMEOUT_S, f"sovctl {args} took {elapsed:.1f} s"
    assert rss < MAX_RSS_KB, f"a sovctl run took {rss // 1024} MB"
    return proc.returncode, proc.stdout + proc.stderr


def outcomes(case: Case, base: Path, work: Path) -> dict[str, tuple[int, str]]:
    inv, ctx = make(case, base, work)
    found = {}
    if case.check is not None:
        found["check"] = run_sovctl(["check", "-i", str(inv), "--offline"], case.heavy)
    audit = ["audit", "-i", str(inv)]
    if case.policy:
        audit += ["--policy", case.policy.format(**ctx)]
    if case.geoip:
        audit += ["--geoip", case.geoip.format(**ctx)]
    found["audit"] = run_sovctl(audit, case.heavy)
    assert not Path(ctx["marker"]).exists(), f"{case.name}: the inventory ran a command"
    for command, (_, out) in found.items():
        assert CANARY not in out, f"{case.name}: {command} printed a file outside the inventory"
        assert "root:x:0:0" not in out
        assert "Traceback" not in out, out
        assert "Internal error" not in out, out
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_inventory_is_refused_naming_a_file(case: Case, base: Path,
                                                    tmp_path: Path) -> None:
    found = outcomes(case, base, tmp_path)
    expected = {"check": case.check, "audit": case.audit}
    for command, (code, out) in found.items():
        assert code == expected[command], f"{case.name}: {command} exited {code}:\n{out}"
        assert case.fragment.lower() in out.lower(), f"{case.name}: {command}:\n{out}"
        named = [str(tmp_path), case.inventory or str(tmp_path), case.geoip or str(tmp_path)]
        assert any(n in out for n in named), f"{case.name}: {command} names no file:\n{out}"


def test_the_example_itself_passes_both(base: Path, tmp_path: Path) -> None:
    found = outcomes(VALID, base, tmp_path)
    assert found["check"][0] == 0, found["check"][1]
    assert found["audit"][0] == 0, found["audit"][1]


def test_check_and_audit_agree_on_what_is_valid() -> None:
    """Acceptance 3 over the corpus: the test above runs both commands on every case and
    asserts these codes, so check refuses (65) exactly what audit refuses (2), and passes
    (0) what audit accepts (0 compliant, 1 violation). The property test in
    test_inventory_properties.py asserts the same on random mutations."""
    for case in [VALID, *CASES]:
        if case.check is not None:
            assert (case.check == 0) == (case.audit in (0, 1)), case.name
