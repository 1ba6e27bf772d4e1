"""Where the UI's files are, and the hub's own wheel, built from the files it runs from.

The UI (``ui/``: static files, no build step) sits beside the package in a clone and in ``make dist``'s
pyz (``<root>/orchestra`` and ``<root>/ui``), and inside it in an installed wheel (``orchestra/ui``,
put there by setup.py's build step). :func:`find_ui_dir` looks in that order.

:func:`build_wheel` writes a wheel of exactly the code this hub runs (the package, its UI, the installed
distribution's metadata and entry points), so that a laptop installs the matching client with one
``pip install http://localhost:8000/client/<wheel>`` through the tunnel, with no package index. It is a
pure-Python ``py3-none-any`` wheel written with :mod:`zipfile` (no pip, no build backend, no network):
the same bytes for the same files, a few hundred milliseconds. Blocking: call it from a worker thread.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from orchestra.core.version import __version__

DISTRIBUTION = "orchestra-hub"
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # orchestra/ (not `import orchestra`: the root is no layer)
# 1980-01-01, the earliest time a zip entry can hold: the wheel's bytes depend only on the files.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def find_ui_dir() -> Path | None:
    """``ORCHESTRA_UI_DIR``, else ``ui`` beside the package (a clone, the pyz), else inside it (a wheel)."""
    candidates = [Path(os.environ["ORCHESTRA_UI_DIR"])] if os.environ.get("ORCHESTRA_UI_DIR") else []
    candidates += [PACKAGE_DIR.parent / "ui", PACKAGE_DIR / "ui"]
    for candidate in candidates:
        if (candidate / "index.html").is_file():
            return candidate
    return None


class NoWheel(Exception):
    """This hub cannot make its own wheel (it runs without its distribution's metadata, e.g. from the pyz)."""


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: str
    version: str


def wheel_name(version: str) -> str:
    return f"{DISTRIBUTION.replace('-', '_')}-{version}-py3-none-any.whl"


def _metadata() -> tuple[str, str]:
    """The distribution's METADATA (PKG-INFO for an egg-info) and entry_points.txt."""
    try:
        distribution = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise NoWheel(f"the {DISTRIBUTION} distribution is not installed here (this hub runs from files "
                      "without its metadata, e.g. the pyz): install it with pip to serve the client") from exc
    text = distribution.read_text("METADATA") or distribution.read_text("PKG-INFO")
    if not text:
        raise NoWheel(f"the {DISTRIBUTION} distribution has no METADATA")
    entry_points = distribution.read_text("entry_points.txt") or "[console_scripts]\norchestra = orchestra.cli:main\n"
    return text, entry_points


def _files(ui_dir: Path | None) -> list[tuple[str, Path]]:
    """(name in the wheel, file) for the package and its UI (as ``orchestra/ui``), sorted, without caches."""
    found: dict[str, Path] = {}
    for root, label in ((PACKAGE_DIR, "orchestra"), (ui_dir, "orchestra/ui")):
        if root is None:
            continue
        for directory, subdirs, names in os.walk(root):
            at_top = Path(directory) == PACKAGE_DIR
            subdirs[:] = [d for d in subdirs if d != "__pycache__" and not (at_top and d == "ui")]
            for name in names:
                if not name.endswith((".pyc", ".pyo")):
                    path = Path(directory) / name
                    found[f"{label}/{path.relative_to(root).as_posix()}"] = path
    return sorted(found.items())


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(directory: Path, version: str = __version__) -> Wheel:
    """Write this hub's wheel into ``directory`` (made if needed, replaced atomically) and return it."""
    meta_text, entry_points = _metadata()
    dist_info = f"{DISTRIBUTION.replace('-', '_')}-{version}.dist-info"
    wheel_text = "Wheel-Version: 1.0\nGenerator: orchestra\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    records: list[str] = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:

        def add(name: str, data: bytes, mode: int = 0o644) -> None:
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            records.append(_record_line(name, data))

        for name, path in _files(find_ui_dir()):
            add(name, path.read_bytes())
        add(f"{dist_info}/METADATA", meta_text.encode())
        add(f"{dist_info}/WHEEL", wheel_text.encode())
        add(f"{dist_info}/entry_points.txt", entry_points.encode())
        record = "\n".join([*records, f"{dist_info}/RECORD,,"]) + "\n"
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", _ZIP_TIME)
        info.external_attr = (0o100000 | 0o644) << 16
        archive.writestr(info, record.encode(), zipfile.ZIP_DEFLATED)
    directory.mkdir(parents=True, exist_ok=True)
    name = wheel_name(version)
    partial = directory / f".{name}.partial"
    partial.write_bytes(buffer.getvalue())
    partial.replace(directory / name)
    return Wheel(directory / name, name, version)
