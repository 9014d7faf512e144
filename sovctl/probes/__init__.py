"""Probes: the checks of a deployed stack as plain functions that return their evidence.

A probe exercises one service from outside, as its clients would, and returns a short
text saying what it saw; it raises :class:`Failed` with that evidence when the service
misbehaves, or :class:`Skipped` with the reason when there is nothing it can check.
The probes of one service form a :class:`Suite`: a subject built once per host of the
service's inventory group (addresses, secrets, a remote shell) and the probes, each
possibly over several parameters. :class:`Run` is one pass over an inventory: what the
probes share is made once in it, and what they start is cleaned up when it ends.

`sovctl verify` runs the suites in its own process; the molecule scenarios run them
through :mod:`sovctl.probes.pytest_adapter`, one test per probe, host and parameter;
continuous monitoring can run them as they are. Nothing here imports pytest.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Skipped(Exception):  # noqa: N818 - an outcome, as pytest's
    """Nothing could be checked; the message says why and what would make it checkable."""


class Failed(Exception):  # noqa: N818 - an outcome, as pytest's
    """The service does not behave as its clients need; the message is the evidence."""


def expect(condition: object, evidence: str) -> None:
    """:class:`Failed` with ``evidence`` unless ``condition`` holds."""
    if not condition:
        raise Failed(evidence)


@dataclass(frozen=True)
class Result:
    """What one probe found on one host: its outcome and the evidence for it."""

    service: str
    probe: str
    host: str
    outcome: str
    evidence: str
    seconds: float


class Run:
    """One pass of probes over an inventory.

    ``once(key, make)`` gives every probe of the pass the same value (a host's subject, a
    client host shared by all); an exception from ``make`` is remembered too, so a subject
    that cannot be built fails (or skips) each of its probes with the same evidence
    instead of being retried. Context managers entered with ``enter`` are closed when the
    pass ends, in reverse order.
    """

    def __init__(self, inventory: str | Path, env: dict[str, str] | None = None):
        self.inventory = Path(inventory)
        self._env = dict(env or {})
        self._saved: dict[str, str | None] = {}
        self._values: dict[Any, Any] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Run:
        from sovctl.probes import context

        # testinfra's Ansible backend and the probes' helpers read the inventory (and the
        # vault's password file) from the environment of this process.
        env = {"SOVCTL_VERIFY_INVENTORY": str(self.inventory), **self._env}
        for key, value in env.items():
            self._saved[key] = os.environ.get(key)
            os.environ[key] = value
        context.reset()
        return self

    def __exit__(self, *exc) -> None:
        from sovctl.probes import context

        try:
            self._stack.close()
        finally:
            for key, value in self._saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            context.reset()

    def once(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._values:
            try:
                self._values[key] = ("value", make())
            except Exception as exc:  # noqa: BLE001 - Skipped, Failed or an error: kept
                self._values[key] = ("error", exc)
        kind, value = self._values[key]
        if kind == "error":
            raise value
        return value

    def enter(self, manager: contextlib.AbstractContextManager) -> Any:
        return self._stack.enter_context(manager)


@dataclass(frozen=True)
class Probe:
    name: str
    func: Callable[..., str | None]
    params: dict[str, dict[str, Any]] | Callable[[str], dict] | None = None

    def param_sets(self, host: str) -> list[tuple[str, dict[str, Any]]]:
        params = self.params(host) if callable(self.params) else self.params
        return list((params or {}).items())


@dataclass(frozen=True)
class Case:
    """One probe, on one host, with one of its parameter sets."""

    suite: Suite = field(repr=False)
    probe: Probe = field(repr=False)
    host: str
    param_id: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)

    @property
    def name(self) -> str:
        return f"{self.probe.name}[{self.param_id}]" if self.param_id else self.probe.name

    @property
    def id(self) -> str:
        return f"{self.host}-{self.name}"

    def run(self, run: Run) -> Result:
        start = time.monotonic()
        try:
            subject = self.suite.subject_for(run, self.host)
            evidence = self.probe.func(subject, **self.kwargs) or "ok"
            outcome = "passed"
        except Skipped as exc:
            outcome, evidence = "skipped", str(exc)
        except Failed as exc:
            outcome, evidence = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - an error of the probe is a failed check
            outcome = "failed"
            evidence = "".join(traceback.format_exception_only(exc)).strip()
        return Result(self.suite.service, self.name, self.host, outcome, evidence,
                      time.monotonic() - start)


class Suite:
    """The probes of one service, over the hosts of one inventory group."""

    def __init__(self, service: str, group: str, doc: str = "",
                 targets: Callable[[], list[str]] | None = None):
        self.service = service
        self.group = group
        self.doc = doc
        self.probes: list[Probe] = []
        self._subject: Callable[[Run, str], Any] | None = None
        self._targets = targets

    def hosts(self) -> list[str]:
        """The hosts the probes examine: those of the group, unless the suite names others
        (a scanner's suite examines every host it can reach from the scanner)."""
        from sovctl.probes import context

        if not context.has_inventory():
            return []
        return self._targets() if self._targets else context.host_names(self.group)

    def subject(self, func: Callable[[Run, str], Any]) -> Callable[[Run, str], Any]:
        """Register what every probe of a host receives: ``func(run, host_name)``. A
        generator function yields the subject and cleans up after it when the run ends."""
        self._subject = func
        return func

    def probe(self, func: Callable | None = None, *,
              params: dict[str, dict[str, Any]] | Callable[[str], dict] | None = None):
        """Register ``func(subject, **params)``, once per entry of ``params`` (id -> keyword
        arguments) when given, or of ``params(host)`` when the sets depend on the host. It
        returns its evidence, or raises Failed or Skipped."""
        def register(f: Callable) -> Callable:
            self.probes.append(Probe(f.__name__, f, params))
            return f
        return register(func) if func is not None else register

    def subject_for(self, run: Run, host: str) -> Any:
        if self._subject is None:
            return host
        func = self._subject

        def make():
            if inspect.isgeneratorfunction(func):
                return run.enter(contextlib.contextmanager(func)(run, host))
            return func(run, host)
        return run.once((self.service, "subject", host), make)

    def cases(self, hosts: Iterable[str] | None = None) -> list[Case]:
        """Every probe on every host (the suite's own when not given), per parameter set; a
        probe whose parameter sets depend on the host has no case on a host with none (a host
        without a TLS port has no TLS probe)."""
        return [Case(self, p, h, pid, kw)
                for h in (self.hosts() if hosts is None else hosts) for p in self.probes
                for pid, kw in (p.param_sets(h) if p.params is not None else [("", {})])]

    def run(self, run: Run, hosts: Iterable[str] | None = None) -> Iterator[Result]:
        for case in self.cases(hosts):
            yield case.run(run)
