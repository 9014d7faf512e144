import os
import signal
import sys
import time
from pathlib import Path

from sovctl.runner import RunRequest, _Progress, ansible_env, run_playbook


def test_progress_counts_and_failures():
    lines = []
    p = _Progress(lines.append)
    p({"event": "playbook_on_play_start", "event_data": {"play": "TURN relay"}})
    p({"event": "runner_on_ok", "event_data": {"host": "turn1", "task": "Install",
                                               "role": "coturn", "res": {"changed": True}}})
    p({"event": "runner_on_failed", "event_data": {
        "host": "turn1", "task": "Write config", "role": "coturn",
        "res": {"censored": "the output has been hidden due to the fact that 'no_log: true'"}}})
    p({"event": "runner_on_unreachable", "event_data": {
        "host": "turn2", "task": "Gathering Facts", "res": {"msg": "ssh: connect refused\nmore"}}})
    p({"event": "playbook_on_stats", "event_data": {
        "ok": {"turn1": 1}, "changed": {"turn1": 1}, "failures": {"turn1": 1},
        "dark": {"turn2": 1}}})
    assert "PLAY TURN relay" in "\n".join(lines)
    assert any("changed" in x and "coturn : Install" in x for x in lines)
    assert [f["host"] for f in p.failures] == ["turn1", "turn2"]
    assert p.failures[0]["message"].startswith("the output has been hidden")
    assert p.failures[1]["message"] == "ssh: connect refused"
    assert p.stats["turn1"].failed == 1 and p.stats["turn2"].unreachable == 1


def test_ignored_failures_are_not_failures():
    p = _Progress(lambda _: None)
    p({"event": "runner_on_failed", "event_data": {"host": "h", "task": "t",
                                                   "ignore_errors": True, "res": {}}})
    assert p.failures == []


def test_environment_is_an_allow_list(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak")
    monkeypatch.setenv("ANSIBLE_FORKS", "7")
    env = ansible_env()
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["ANSIBLE_FORKS"] == "7"
    assert env["ANSIBLE_ROLES_PATH"].endswith("roles")


def test_report_tasks_are_collected_per_host():
    p = _Progress(lambda _: None)
    p({"event": "runner_on_ok", "event_data": {"host": "h1", "task": "Report to sovctl: status",
                                               "res": {"msg": ["unit coturn active"]}}})
    assert p.reports == {"h1": ["unit coturn active"]}


def test_runs_use_mitogens_strategy_by_default(monkeypatch):
    monkeypatch.delenv("SOVCTL_MITOGEN", raising=False)
    monkeypatch.delenv("ANSIBLE_STRATEGY", raising=False)
    monkeypatch.setenv("ANSIBLE_STRATEGY_PLUGINS", "/site/strategy")
    env = ansible_env()
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    first, rest = env["ANSIBLE_STRATEGY_PLUGINS"].split(":", 1)
    assert (Path(first) / "mitogen_linear.py").is_file()
    assert rest == "/site/strategy"  # the user's own plugin paths are kept


def test_mitogen_can_be_turned_off_and_an_explicit_strategy_wins(monkeypatch):
    monkeypatch.delenv("ANSIBLE_STRATEGY", raising=False)
    monkeypatch.delenv("ANSIBLE_STRATEGY_PLUGINS", raising=False)
    monkeypatch.setenv("SOVCTL_MITOGEN", "0")
    env = ansible_env()
    assert "ANSIBLE_STRATEGY" not in env and "ANSIBLE_STRATEGY_PLUGINS" not in env
    monkeypatch.delenv("SOVCTL_MITOGEN")
    monkeypatch.setenv("ANSIBLE_STRATEGY", "free")
    assert ansible_env()["ANSIBLE_STRATEGY"] == "free"


def test_mitogens_keepalive_follows_the_ansible_cfg_in_use(monkeypatch, tmp_path):
    from sovctl.runner import mitogen_vars

    monkeypatch.delenv("SOVCTL_MITOGEN", raising=False)
    monkeypatch.delenv("ANSIBLE_STRATEGY", raising=False)
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[ssh_connection]\nssh_args = -o ServerAliveInterval=7 "
                   "-o ServerAliveCountMax=5\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(cfg))
    assert mitogen_vars(ansible_env()) == {"mitogen_ssh_keepalive_interval": 7,
                                           "mitogen_ssh_keepalive_count": 5}
    monkeypatch.setenv("SOVCTL_MITOGEN", "0")
    assert mitogen_vars(ansible_env()) == {}


def test_an_interrupt_stops_the_run_before_its_next_task(tmp_path):
    """Ctrl-C during a task: the run is cancelled there, and the tasks after it do not
    run (ansible-runner's default look at the cancel flag, every 5 s, let them)."""
    marker = tmp_path / "last-task-ran"
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n", encoding="utf-8")
    playbook = tmp_path / "play.yml"
    playbook.write_text(f"""\
- name: Three tasks
  hosts: all
  gather_facts: false
  tasks:
    - name: First
      ansible.builtin.command: "true"
    - name: Second, running when the interrupt comes
      ansible.builtin.command: sleep 2
    - name: Last
      ansible.builtin.file:
        path: {marker}
        state: touch
""", encoding="utf-8")
    lines = []

    def emit(line):
        lines.append(line)
        if line.strip().endswith(" First"):
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C does, while "Second" runs

    result = run_playbook(RunRequest(playbooks=[playbook], inventory=inventory), emit=emit)
    out = "\n".join(lines)
    assert result.cancelled, out
    assert not marker.exists(), out
    assert "Interrupt received" in out
    # Nothing of the run is left behind: no ansible-playbook, no fork of it (Mitogen's
    # multiplexer leaves the run's session, and once held SSH connections after the stop).
    left = []
    for _ in range(25):
        left = [p for p in Path("/proc").glob("[0-9]*")
                if str(playbook).encode() in _cmdline(p)]
        if not left:
            break
        time.sleep(0.2)
    assert left == [], [_cmdline(p) for p in left]


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_the_tools_beside_sovctl_come_first_on_the_path():
    """A sovctl installed in a virtualenv or by pipx, run without that directory on the
    PATH, still runs its own ansible-playbook and pytest."""
    import sysconfig

    from sovctl.runner import ansible_env, tools_path

    scripts = sysconfig.get_path("scripts")
    assert tools_path("/usr/bin:/bin") == f"{scripts}:/usr/bin:/bin"
    assert tools_path(f"/usr/bin:{scripts}:/bin") == f"{scripts}:/usr/bin:/bin"
    assert ansible_env()["PATH"].split(":")[0] == scripts
