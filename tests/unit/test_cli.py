import platform

from click.testing import CliRunner

from sovctl import __version__
from sovctl.cli import cli


def test_version_names_sovctl_ansible_core_and_python():
    from ansible.release import __version__ as core

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert f"sovctl {__version__}" in result.output
    assert f"ansible-core {core}" in result.output
    assert f"Python {platform.python_version()}" in result.output


def test_every_command_help_has_an_example():
    runner = CliRunner()
    for name, cmd in cli.commands.items():
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.output, f"sovctl {name} --help has no example"
        for sub in getattr(cmd, "commands", {}):
            sub_help = runner.invoke(cli, [name, sub, "--help"])
            assert "Example" in sub_help.output, f"sovctl {name} {sub} --help has no example"
