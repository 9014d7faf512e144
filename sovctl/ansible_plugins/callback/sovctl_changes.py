"""Ansible callback: which tasks changed, on which host, including no_log tasks.

ansible-runner's events drop the changed flag of no_log results, so sovctl would show
them only as "done". This callback sees the result before the runner does and writes
one JSON line per changed task result (host, task, role; never the result itself) to
the file named by SOVCTL_CHANGES_FILE. It keeps no secret: no_log results are not read
beyond their changed flag.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: sovctl_changes
type: aggregate
short_description: record the tasks that changed (host and task name only)
description:
  - Writes one JSON line per changed task result to the file in SOVCTL_CHANGES_FILE.
requirements:
  - enabled in callbacks_enabled (sovctl does this for its runs)
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "sovctl_changes"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("SOVCTL_CHANGES_FILE")

    def _record(self, result) -> None:
        if not self._path or not result._result.get("changed"):
            return
        task = result._task
        role = task._role.get_name() if getattr(task, "_role", None) else None
        line = {"host": result._host.get_name(), "task": task.get_name(), "role": role,
                "no_log": bool(task.no_log)}
        with open(self._path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result)
