"""Small helpers shared by the test modules."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write(base: Path, files: dict[str, str]) -> Path:
    """Write dedented files under base (creating directories); returns base."""
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return base


def role_filters(role: str) -> dict:
    """The Jinja filters a role ships in filter_plugins/<role>.py, as Ansible loads them."""
    spec = importlib.util.spec_from_file_location(
        f"{role}_filters", ROOT / "roles" / role / "filter_plugins" / f"{role}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()


def assert_role_interface_documented(role: Path, prefix: str) -> None:
    """A role's argument_specs, defaults and README agree: every option is a default of
    the role with the declared value, carries the role's prefix and is in the README."""
    import yaml

    options = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())[
        "argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    readme = (role / "README.md").read_text()
    assert set(defaults) == set(options)
    for name, spec in options.items():
        assert name.startswith(prefix)
        assert f"`{name}`" in readme, f"{name} is missing from {role}/README.md"
        if "default" in spec:
            assert spec["default"] == defaults[name], name
    assert yaml.safe_load((role / "meta" / "main.yml").read_text())["dependencies"] == []


def build_wheel(workdir: Path) -> Path:
    """sovctl's wheel, built as pip builds it, from a copy of this checkout (setuptools
    writes build/ into the tree it builds; the copy leaves out what is not the source)."""
    import shutil
    import subprocess
    import sys

    src = workdir / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "node_modules", ".sovctl*", "*.egg-info", "artifacts"))
    wheels = workdir / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(src)], check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("sovctl-*.whl")
    return wheel
