"""The package's architecture, checked: the layer contract (import-linter, configured in pyproject.toml)
holds and a module that breaks it is caught; every module, class and function docs/ARCHITECTURE.md names
exists; no module in orchestra/ is over 400 lines."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "orchestra"
MAX_LINES = 400
LONGER_ALLOWED = {"storage/schema.py"}  # the migrations, one after another: read in order, never edited


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter run on the package under ``root`` with ``root``'s pyproject.toml (it puts ``root``
    first on sys.path, so a copy there is the package it checks)."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    return subprocess.run([str(lint_imports), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


def _copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "orchestra", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_imports_keep_the_layer_contract_and_have_no_cycle() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("module", "source", "broken"), [
    # storage is below runtime: even an import made only for type checking runs against the layers
    ("storage/uses_runtime.py",
     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from orchestra.runtime.hub import Hub\n",
     "orchestra.storage is not allowed to import orchestra.runtime"),
    # siblings written "a | b" do not import each other
    ("agents/uses_executors.py", "import orchestra.executors.spec\n",
     "orchestra.agents is not allowed to import orchestra.executors"),
    # the core is the bottom layer
    ("core/uses_storage.py", "from orchestra.storage import store\n",
     "orchestra.core is not allowed to import orchestra.storage"),
])
def test_a_module_importing_against_the_layers_breaks_the_contract(tmp_path: Path, module: str, source: str,
                                                                    broken: str) -> None:
    root = _copy_of_the_package(tmp_path)
    (root / "orchestra" / module).write_text(source)
    result = _lint_imports(root)
    assert result.returncode != 0
    assert broken in result.stdout, result.stdout


def test_an_import_cycle_between_modules_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy_of_the_package(tmp_path)
    (root / "orchestra" / "runtime" / "cycle_a.py").write_text("from orchestra.runtime import cycle_b\n")
    (root / "orchestra" / "runtime" / "cycle_b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from orchestra.runtime import cycle_a\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "no import cycle between the modules of a package, at any depth BROKEN" in result.stdout, result.stdout


# -- docs/ARCHITECTURE.md names only what exists ---------------------------------------------------


def _defined_names() -> tuple[set[str], set[str], set[Path]]:
    """Every module name (dotted and bare), and every class, function, method and module-level
    name defined in orchestra/; and every module's path."""
    modules: set[str] = set()
    names: set[str] = set()
    paths: set[Path] = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = [p for p in relative.parts if p != "__init__"]
        modules.add(".".join(parts))
        modules.add(".".join(parts[1:]))
        modules.add(parts[-1])
        paths.add(path.relative_to(PACKAGE))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return modules, names, paths


_PATH = re.compile(r"^(?:orchestra/)?[\w/]+\.py$")
_OTHER_FILES = {"js", "css", "html", "md", "toml", "json", "txt", "sh", "service", "cfg", "ini"}
_CODE = re.compile(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*(?:\(\))?$")


def architecture_references(text: str) -> list[str]:
    """What ARCHITECTURE.md cites as code: backticked file paths (``x.py``, ``runtime/actor.py``), and
    backticked names that are CamelCase, dotted (``transitions.insert_run``) or called (``drive()``);
    in its diagrams (fenced blocks), every ``path.py`` and ``Name.attribute``. Plain lowercase words in
    backticks (``seq``, ``since``) and UPPER_CASE settings are prose."""
    found = []
    fences = re.findall(r"^```\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    for fence in fences:
        found += re.findall(r"(?<![\w/*.])[\w/]+\.py\b", fence)
        found += re.findall(r"(?<![\w/.])[A-Z]\w*\.[a-z_]\w*(?![\w/]|\.py)", fence)
        modules = _defined_names()[0]  # module.name, where the first part is one of the package's modules
        found += [name for name in re.findall(r"(?<![\w/.])[a-z_]+\.[A-Za-z_]\w*(?![\w/]|\.py)", fence)
                  if name.split(".")[0] in modules]
    prose = re.sub(r"^```\n.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    for token in re.findall(r"`([^`\n]+)`", prose):
        token = token.strip()
        if _PATH.match(token):
            found.append(token)
        elif token.rsplit(".", 1)[-1] in _OTHER_FILES:  # `state.js`, `FLOWS.md`: files, not code
            continue
        elif _CODE.match(token) and not token.isupper() and (
                "." in token or token.endswith("()") or re.search(r"[a-z][A-Z]|^[A-Z][a-z]", token)):
            found.append(token)
    return found


def missing_references(text: str) -> list[str]:
    modules, names, paths = _defined_names()
    missing = []
    for token in architecture_references(text):
        if token.endswith(".py"):
            relative = Path(token.removeprefix("orchestra/"))
            known = (relative in paths if "/" in token else any(p.name == token for p in paths)) \
                or (ROOT / token).is_file()
            if not known:
                missing.append(token)
            continue
        dotted = token.removesuffix("()")
        if dotted in modules:
            continue
        parts = dotted.split(".")
        # "a.b.c": the module or class it starts at, then each attribute, must be defined somewhere
        head = next((i for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in modules), 0)
        if not all(part in names for part in parts[head:]) or (head == 0 and parts[0] not in names):
            missing.append(token)
    return missing


def test_every_name_architecture_md_cites_exists() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    assert len(architecture_references(text)) > 40  # the check reads what the document cites
    assert missing_references(text) == []


def test_a_name_that_does_not_exist_is_caught() -> None:
    text = ("The actor (`runtime/actor.py`, `ProjectActor`) hands a run to `RunDriver.drive` and "
            "`transitions.queue_executions()`; then `runtime/gone.py`, `NoSuchClass`, `RunDriver.no_such_method` "
            "and `transitions.plan_launch`.")
    assert missing_references(text) == ["runtime/gone.py", "NoSuchClass", "RunDriver.no_such_method",
                                        "transitions.plan_launch"]


# -- module size -----------------------------------------------------------------------------------


def test_no_module_is_over_400_lines() -> None:
    sizes = {str(path.relative_to(PACKAGE)): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    over = {path: lines for path, lines in sizes.items() if lines > MAX_LINES and path not in LONGER_ALLOWED}
    assert over == {}, f"split these by concept: {over}"
