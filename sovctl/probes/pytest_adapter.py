"""The probes as pytest tests, for the molecule scenarios: one test per probe, host and
parameter set, named ``test_<service>[<host>-<probe>[<param>]]``.

A scenario's test module says which suites it runs::

    from sovctl.probes import coturn
    from sovctl.probes.pytest_adapter import tests_for

    test_coturn = tests_for(coturn.suite)

A probe's evidence is the failure message or the skip reason; what the probes share is
made once per pytest session (one :class:`~sovctl.probes.Run`) and cleaned up after it.
"""

from __future__ import annotations

import os

import pytest

from sovctl.probes import Case, Run, Suite, context


@pytest.fixture(scope="session")
def probe_run():
    with Run(context.inventory_path(), env={
            k: v for k, v in os.environ.items() if k == "ANSIBLE_VAULT_PASSWORD_FILE"}) as run:
        yield run


def tests_for(suite: Suite):
    """A pytest test function that runs each case of ``suite`` and reports its outcome."""
    all_cases = suite.cases()  # none without an inventory: collecting needs no hosts

    @pytest.mark.skipif(not all_cases, reason=f"no host in group {suite.group!r}")
    @pytest.mark.parametrize("case", all_cases, ids=[c.id for c in all_cases])
    def test(case: Case, probe_run: Run) -> None:
        result = case.run(probe_run)
        if result.outcome == "skipped":
            pytest.skip(result.evidence)
        if result.outcome == "failed":
            pytest.fail(result.evidence, pytrace=False)

    test.__name__ = f"test_{suite.service}"
    test.__doc__ = suite.doc
    return test


# Imported into test modules under its own name: not a test itself.
tests_for.__test__ = False
