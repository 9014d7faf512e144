"""The one module that talks to ansible-runner.

It owns the private data directory, the event handler (progress and recap),
cancellation on Ctrl-C and the environment handed to Ansible. Callers get a
RunResult with Ansible's own exit code and per-host counts, never raw events.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import re
import signal
import sysconfig
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sovctl.errors import EXIT_UNAVAILABLE, SovctlError
from sovctl.paths import project_root

# Variables passed from the caller's environment to Ansible; everything else is dropped.
ENV_ALLOW = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM", "SSH_AUTH_SOCK", "TMPDIR",
             "CONTAINERS_CONF", "VIRTUAL_ENV", "http_proxy", "https_proxy", "no_proxy")
ENV_ALLOW_PREFIXES = ("ANSIBLE_", "SOVCTL_", "MOLECULE_")

REPORT_PREFIX = "Report to sovctl:"
RUN_MARKER = "sovctl_run_dir"
# How often ansible-runner looks at the cancel flag while ansible-playbook runs (its
# pexpect_timeout, 5 s by default): Ctrl-C stops the run within this, not after up to
# five more seconds of tasks.
CANCEL_POLL_SECONDS = 0.2
STAT_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass
class RunResult:
    rc: int
    status: str
    hosts: dict[str, HostStats] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    cancelled: bool = False
    # host -> msg of tasks named "Report to sovctl: ..." (how read-only playbooks report)
    reports: dict[str, object] = field(default_factory=dict)
    # every changed task result, no_log ones included: {host, task, role, no_log}
    changed_tasks: list[dict] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())


@dataclass
class RunRequest:
    """One ansible-playbook run; several playbooks run in order as one play list."""

    playbooks: list[Path]
    inventory: Path
    limit: str | None = None
    tags: str | None = None
    skip_tags: str | None = None
    check: bool = False
    diff: bool = False
    verbosity: int = 0
    extravars: dict = field(default_factory=dict)
    vault_password_file: Path | None = None


CALLBACK_DIR = Path(__file__).resolve().parent / "ansible_plugins" / "callback"


def _with_changes_callback(env: dict[str, str]) -> None:
    """Enable sovctl's callback that records changed tasks (no_log ones too)."""
    paths = [p for p in env.get("ANSIBLE_CALLBACK_PLUGINS", "").split(os.pathsep) if p]
    env["ANSIBLE_CALLBACK_PLUGINS"] = os.pathsep.join([*paths, str(CALLBACK_DIR)])
    enabled = [c for c in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c.strip()]
    env["ANSIBLE_CALLBACKS_ENABLED"] = ",".join([*enabled, "sovctl_changes"])


MITOGEN_STRATEGY = "mitogen_linear"
MITOGEN_OFF = ("0", "false", "no", "off")


def mitogen_enabled(env: dict[str, str]) -> bool:
    """Whether runs use Mitogen's strategy: on unless SOVCTL_MITOGEN=0 or the caller set
    ANSIBLE_STRATEGY itself (an explicit choice wins)."""
    if env.get("SOVCTL_MITOGEN", "1").strip().lower() in MITOGEN_OFF:
        return False
    return "ANSIBLE_STRATEGY" not in env


def mitogen_strategy_plugins() -> Path:
    """The directory of Mitogen's strategy plugins."""
    try:
        import ansible_mitogen  # noqa: PLC0415  (imported only to find its plugin directory)
    except ImportError as exc:  # a dependency of sovctl: only a broken install lacks it
        raise SovctlError(
            "Mitogen for Ansible (the `mitogen` package, a dependency of sovctl) is not "
            "installed in this environment",
            hint="reinstall sovctl (pip install -e .), or set SOVCTL_MITOGEN=0 to run "
                 "with Ansible's own linear strategy",
            exit_code=EXIT_UNAVAILABLE) from exc
    return Path(ansible_mitogen.__file__).resolve().parent / "plugins" / "strategy"


def _with_mitogen(env: dict[str, str]) -> None:
    """Run plays with Mitogen's linear strategy: same task order and results as Ansible's
    linear strategy, but one persistent Python interpreter per host instead of a new
    SSH command and module upload per task (the sandbox's no-op re-run: 86 s, 224 s
    without it, 271 s with Ansible's defaults; bench/deploy_speed.py). Plain
    `ansible-playbook` keeps Ansible's own strategy."""
    if not mitogen_enabled(env):
        return
    paths = [p for p in env.get("ANSIBLE_STRATEGY_PLUGINS", "").split(os.pathsep) if p]
    env["ANSIBLE_STRATEGY_PLUGINS"] = os.pathsep.join([str(mitogen_strategy_plugins()), *paths])
    env["ANSIBLE_STRATEGY"] = MITOGEN_STRATEGY


# Mitogen starts ssh with its own ServerAlive options, which come first and so win over
# ansible.cfg's: 30 s x 10 by default, so a host that stops answering mid-task would hang
# the run for five minutes. Mitogen is given the ServerAlive values of the ansible.cfg in
# use (the project's: 10 s x 3; 10 s x 3 when it sets none), so a silent host is named
# unreachable as fast as with Ansible's SSH connection and the other hosts finish
# (tests/integration).
def mitogen_vars(env: dict[str, str]) -> dict[str, int]:
    """Extra variables for a run with the environment ``env`` (empty without Mitogen)."""
    if env.get("ANSIBLE_STRATEGY") != MITOGEN_STRATEGY:
        return {}
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(env.get("ANSIBLE_CONFIG", ""))
    ssh_args = cfg.get("ssh_connection", "ssh_args", fallback="")
    found = dict(re.findall(r"ServerAlive(Interval|CountMax)[= ](\d+)", ssh_args))
    return {"mitogen_ssh_keepalive_interval": int(found.get("Interval", 10)),
            "mitogen_ssh_keepalive_count": int(found.get("CountMax", 3))}


def tools_path(path: str | None = None) -> str:
    """``path`` (the caller's PATH by default) with this interpreter's scripts directory
    first: the ansible-playbook, ansible-inventory and pytest installed beside sovctl (a
    virtualenv, pipx) are the ones run, even when that directory is not on the PATH."""
    scripts = sysconfig.get_path("scripts")
    parts = [p for p in (os.environ.get("PATH", os.defpath) if path is None else path)
             .split(os.pathsep) if p and p != scripts]
    return os.pathsep.join(([scripts] if scripts else []) + parts)


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k in ENV_ALLOW or k.startswith(ENV_ALLOW_PREFIXES)}
    env["PATH"] = tools_path(env.get("PATH", os.defpath))
    root = project_root()
    env.setdefault("ANSIBLE_CONFIG", str(root / "ansible.cfg"))
    env["ANSIBLE_ROLES_PATH"] = str(root / "roles")
    env.setdefault("ANSIBLE_FORCE_COLOR", "false")
    env["ANSIBLE_NOCOLOR"] = "true"
    if extra:
        env.update(extra)
    _with_mitogen(env)
    return env


class _Progress:
    """Turns runner events into one line per task result, and collects failures."""

    def __init__(self, emit: Callable[[str], None]):
        self.emit = emit
        self.failures: list[dict] = []
        self.stats: dict[str, HostStats] = {}
        self.reports: dict[str, object] = {}

    def __call__(self, event: dict) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {}) or {}
        host = data.get("host") or data.get("remote_addr") or ""
        task = data.get("task") or ""
        role = data.get("role")
        label = f"{role} : {task}" if role else task
        if kind == "playbook_on_play_start":
            self.emit(f"\nPLAY {data.get('play', '')}")
        elif kind == "runner_on_ok" and task.startswith(REPORT_PREFIX):
            self.reports[host] = (data.get("res") or {}).get("msg")
        elif kind == "runner_on_ok":
            res = data.get("res") or {}
            # no_log results reach us censored, without their changed flag.
            state = "changed" if res.get("changed") else (
                "done" if "censored" in res and "changed" not in res else "ok")
            self.emit(f"  {state:<11} {host:<20} {label}")
        elif kind == "runner_on_skipped":
            pass  # skipped tasks are counted in the recap, not listed
        elif kind in ("runner_on_failed", "runner_on_unreachable"):
            res = data.get("res") or {}
            ignored = data.get("ignore_errors")
            state = "unreachable" if kind.endswith("unreachable") else (
                "ignored" if ignored else "FAILED")
            msg = _failure_message(res)
            self.emit(f"  {state:<11} {host:<20} {label}: {msg}")
            if not ignored:
                self.failures.append({"host": host, "task": label, "state": state,
                                      "message": msg})
        elif kind == "playbook_on_stats":
            for key, attr in zip(STAT_KEYS, ("ok", "changed", "failed", "unreachable",
                                             "skipped", "rescued", "ignored"), strict=True):
                for h, n in (data.get(key) or {}).items():
                    setattr(self.stats.setdefault(h, HostStats()), attr, n)
        return True  # keep the event in the artifacts directory (a temporary dir)


def _failure_message(res: dict) -> str:
    if res.get("censored"):
        return res["censored"]
    msg = str(res.get("msg") or res.get("stderr") or res.get("reason") or "failed").strip()
    return msg.splitlines()[0][:300] if msg else "failed"


def run_playbook(req: RunRequest, emit: Callable[[str], None] = print) -> RunResult:
    import ansible_runner

    cancel = threading.Event()

    def on_sigint(_sig, _frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        emit("\nInterrupt received: stopping the run (Ctrl-C again to abort).")
        cancel.set()

    previous = signal.signal(signal.SIGINT, on_sigint) if (
        threading.current_thread() is threading.main_thread()) else None
    progress = _Progress(emit)
    cmdline = []
    if req.check:
        cmdline.append("--check")
    if req.diff:
        cmdline.append("--diff")
    if req.skip_tags:
        cmdline += ["--skip-tags", req.skip_tags]
    if req.vault_password_file:
        cmdline += ["--vault-password-file", str(req.vault_password_file)]
    try:
        with tempfile.TemporaryDirectory(prefix="sovctl-run-") as pdd:
            changes = Path(pdd) / "changes.jsonl"
            (Path(pdd) / "env").mkdir()
            # A file, not run(settings=...): ansible-runner drops a settings argument when
            # its private data directory has no env/settings.
            (Path(pdd) / "env" / "settings").write_text(
                f"pexpect_timeout: {CANCEL_POLL_SECONDS}\n", encoding="utf-8")
            # ansible-runner keeps Ansible's fact cache in this run's own directory: each
            # run gathers afresh, and nothing that decides a run comes from an older one.
            env = ansible_env({"SOVCTL_CHANGES_FILE": str(changes)})
            _with_changes_callback(env)
            runner = ansible_runner.run(
                private_data_dir=pdd,
                project_dir=str(project_root()),
                playbook=str(_play_list(req.playbooks, Path(pdd))),
                inventory=str(req.inventory.resolve()),
                limit=req.limit,
                tags=req.tags,
                cmdline=" ".join(_quote(c) for c in cmdline) or None,
                # The run's directory on ansible-playbook's command line marks every process
                # of this run (Mitogen's multiplexer forks it and leaves its session), so
                # that _stop_leftovers finds them whatever playbook and inventory it ran.
                extravars={**mitogen_vars(env), **req.extravars, RUN_MARKER: pdd},
                envvars=env,
                verbosity=req.verbosity or None,
                quiet=True,
                event_handler=progress,
                cancel_callback=cancel.is_set,
                suppress_env_files=True,
                rotate_artifacts=1,
            )
            rc = runner.rc if runner.rc is not None else 1
            status = runner.status
            if cancel.is_set() and status != "canceled":
                emit("The run had ended before the interrupt could stop it: its result "
                     "stands.")
            changed_tasks = _read_changes(changes)
            _stop_leftovers(pdd)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return RunResult(rc=rc, status=status, hosts=progress.stats, failures=progress.failures,
                     cancelled=status == "canceled", reports=progress.reports,
                     changed_tasks=changed_tasks)


def _stop_leftovers(run_dir: str) -> None:
    """Stop what a run left behind. A cancelled run's ansible-playbook is stopped by
    ansible-runner, but Mitogen's connection multiplexer, a fork of it (same command
    line, which names this run's directory), would outlive it, holding its SSH
    connections open."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(proc.name) != os.getpid() and any(run_dir.encode() in a for a in argv):
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGTERM)


def _read_changes(path: Path) -> list[dict]:
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        out.append({k: item.get(k) for k in ("host", "task", "role", "no_log")})
    return out


def _play_list(playbooks: list[Path], workdir: Path) -> Path:
    """One playbook as is; several through a generated playbook that imports each in order."""
    if len(playbooks) == 1:
        return playbooks[0].resolve()
    wrapper = workdir / "sovctl-plays.yml"
    wrapper.write_text("---\n" + "".join(
        f"- name: {p.stem}\n  ansible.builtin.import_playbook: {p.resolve()}\n" for p in playbooks))
    return wrapper


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
