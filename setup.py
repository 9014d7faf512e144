"""The wheel carries sovctl's Ansible content (roles, playbooks, policies, ansible.cfg,
the example and sandbox inventories) under ``sovctl/_content``, so that an installed sovctl
works from any directory; a checkout uses its own top-level directories instead (sovctl.paths).
Everything else is declared in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONTENT = ("roles", "playbooks", "policies", "inventories/example", "inventories/sandbox",
           "ansible.cfg")
# Never shipped: secrets, local state, build output and dependencies of the frontend (the
# sandbox's working files are also sovctl.paths.WORKING_FILES, which setup.py cannot import
# in an isolated build without sovctl's dependencies).
IGNORE = shutil.ignore_patterns("node_modules", "dist", "__pycache__", "*.pyc", ".vault-pass",
                                "vault.yml", ".sovctl", ".sovctl-*", ".pytest_cache",
                                "sandbox_ssh.yml")


class BuildWithContent(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the checkout itself
            return
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "sovctl" / "_content"
        for name in CONTENT:
            src, dst = root / name, target / name
            if dst.exists():
                shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=IGNORE)
            else:
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildWithContent})
