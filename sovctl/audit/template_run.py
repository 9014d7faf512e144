"""One evaluation's limits, for sovctl.audit.safe_template: the run's time budget (``seconds``
of evaluation in all), and what the evaluation under way has appended to the lists its
templates build."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar


class TemplateFailure(Exception):
    """A template outside the subset, or one that fails: the message says why.

    ``var`` is the variable whose own value failed, when it is not the one rendered.
    """

    def __init__(self, message: str, var: str | None = None):
        super().__init__(message)
        self.var = var


# The characters appended so far to each list of the evaluation under way: id -> (list, n)
APPENDED: ContextVar[dict[int, tuple[list, int]] | None] = ContextVar("APPENDED",
                                                                      default=None)


class Budget:
    """Seconds of evaluation spent by one run (one audit, one check)."""

    def __init__(self) -> None:
        self.spent = 0.0


@contextmanager
def time_limit(budget: Budget, seconds: float):
    """Stop an evaluation that runs past the run's budget (main thread: SIGALRM).

    An evaluation within another (a template reading ``hostvars``) runs under the
    outer one's limit: the outer timer is neither reset nor cancelled by it."""
    if APPENDED.get() is not None:
        yield
        return
    token = APPENDED.set({})
    try:
        with _outer_time_limit(budget, seconds):
            yield
    finally:
        APPENDED.reset(token)


@contextmanager
def _outer_time_limit(budget: Budget, seconds: float):
    left = seconds - budget.spent
    if left <= 0:
        raise TemplateFailure(f"templates took more than {seconds:g} s in all")
    use_alarm = threading.current_thread() is threading.main_thread() and hasattr(
        signal, "setitimer")
    start = time.monotonic()
    previous = None

    def expired(_signum, _frame):
        raise TemplateFailure(f"templates took more than {seconds:g} s in all")

    if use_alarm:
        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, left)
    try:
        yield
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        budget.spent += time.monotonic() - start
