"""Where a key of a TOML document is: the line a flow file's error points at.

``tomllib`` gives a line only for syntax errors; a schema error (pydantic) comes with a path such as
``("nodes", 2, "timeout_s")``. :func:`line_of` scans the text for the table headers and keys and
returns the line of that key, or of the nearest enclosing one that is written (the ``[[nodes]]``
header of the third node when its ``title`` is missing, the ``budget = {…}`` line for a field inside
that inline table). A scan, not a parser: it knows bare and quoted keys, dotted keys, ``[table]``,
``[[array]]`` and multi-line strings, which is what a flow file holds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


def _key_parts(dotted: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", dotted)]


def key_lines(text: str) -> dict[Path, int]:
    """Every table header and key of ``text``, as its full path (arrays of tables indexed), to its line
    (1-based; the first line when a path is written twice)."""
    found: dict[Path, int] = {}
    table: Path = ()
    counts: dict[Path, int] = {}
    in_string: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:  # inside a multi-line string: only its end matters
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        header = _HEADER.match(line)
        if header:
            parts = _key_parts(header.group(2))
            if header.group(1) == "[[":  # a new item of the array: the index of its last part is new
                base = (*_resolve(parts[:-1], counts), parts[-1])
                index = counts.get(base, -1) + 1
                counts[base] = index
                table = (*base, index)
            else:
                table = _resolve(parts, counts)
            found.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            path = (*table, *_key_parts(key.group(1)))
            found.setdefault(path, number)
            rest = line[key.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote
                    break
    return found


def _resolve(parts: list[str], counts: dict[Path, int]) -> Path:
    """A header's path, with the current index of every array of tables it passes through
    (``[nodes.budget]`` after the third ``[[nodes]]`` is ``nodes, 2, budget``)."""
    path: Path = ()
    for part in parts:
        path = (*path, part)
        if path in counts:
            path = (*path, counts[path])
    return path


def line_of(lines: dict[Path, int], path: Sequence[str | int]) -> int | None:
    """The line of ``path``, or of the longest prefix of it that is written; None when none is."""
    for end in range(len(path), 0, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None
