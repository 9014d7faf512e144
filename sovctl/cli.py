"""The ``sovctl`` command line: a thin click layer over plain functions.

Each command lives in ``sovctl/commands/<name>.py`` and is registered here.
"""

from __future__ import annotations

import platform
import sys
import traceback

import click

from sovctl import __version__
from sovctl.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, SovctlError


def version_text() -> str:
    try:
        from ansible.release import __version__ as ansible_core_version
    except ImportError:  # pragma: no cover - ansible-core is a hard dependency
        ansible_core_version = "not installed"
    return (
        f"sovctl {__version__}\n"
        f"ansible-core {ansible_core_version}\n"
        f"Python {platform.python_version()} ({sys.executable})"
    )


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_text())
        ctx.exit(0)


class SovctlGroup(click.Group):
    """Turns sovctl's own errors into a message, a hint and a documented exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SovctlError as exc:
            click.secho(f"Error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            if (ctx.obj or {}).get("debug"):
                traceback.print_exc()
            ctx.exit(exc.exit_code)


@click.group(cls=SovctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show sovctl, ansible-core and Python versions.")
@click.option("--debug", is_flag=True, help="Show tracebacks and Ansible's verbose output.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Deploy, verify and audit a sovereign collaboration stack.

    \b
    Examples:
      sovctl deploy                      # the local sandbox (the default)
      sovctl deploy -i inventories/prod  # your own inventory
      sovctl audit -i inventories/prod --policy eu-sovereign
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    from sovctl.commands import deploy

    cli.add_command(deploy.command)
    for name in ("audit", "init", "check", "verify", "status", "sandbox", "mirror", "secrets",
                 "backup", "upgrade", "plan"):
        try:
            module = __import__(f"sovctl.commands.{name}", fromlist=["command"])
        except ModuleNotFoundError as exc:
            if exc.name != f"sovctl.commands.{name}":
                raise
            continue
        for command in getattr(module, "commands", None) or [module.command]:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rc = cli.main(args=argv, prog_name="sovctl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - last-resort handler, documented exit 70
        click.secho(f"Internal error: {exc}", fg="red", err=True)
        if debug:
            traceback.print_exc()
        else:
            click.echo("Hint: run again with --debug and report the traceback.", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(rc if isinstance(rc, int) else 0)
