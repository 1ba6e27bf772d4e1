"""The one build step pyproject.toml cannot say: the wheel carries the UI (``ui/``, static files at the
repository's top level) as ``orchestra/ui``, where :func:`orchestra.system.packaging.find_ui_dir` finds
it in an installed hub. Everything else is in pyproject.toml; the sdist has ``ui/`` (MANIFEST.in)."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithUI(build_py):
    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent / "ui"
        if source.is_dir() and not self.editable_mode:
            target = Path(self.build_lib) / "orchestra" / "ui"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithUI})
