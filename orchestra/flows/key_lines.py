"""Where a key of a TOML document is: the line a flow file's error points at.

``tomllib`` gives a line only for syntax errors; a schema error (pydantic) comes with a path such as
``("nodes", 2, "timeout_s")``. :func:`line_of` scans the text for the table headers and keys and
returns the line of that key, or of the nearest enclosing one that is written (the ``[[nodes]]``
header of the third node when its ``title`` is missing, the ``budget = {…}`` line for a field inside
that inline table). A scan, not a parser: it knows bare and quoted keys, dotted keys, ``[table]``,
``[[array]]`` and multi-line strings, which is what a flow file holds.

Linear time, by construction: a flow file is untrusted text, and a backtracking regex over it once
froze the hub (a ``[`` and thousands of spaces took seconds per line). Each line is read left to right
by :func:`_dotted_key` with ``str`` methods (``find``, ``count``, ``strip``), every character a bounded
number of times, and no regex.
"""

from __future__ import annotations

from collections.abc import Sequence

Path = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SPACE = " \t"


def _skip_space(line: str, i: int) -> int:
    while i < len(line) and line[i] in _SPACE:
        i += 1
    return i


def _dotted_key(line: str, i: int) -> tuple[list[str], int] | None:
    """The dotted key starting at ``line[i]`` (``a.b``, ``"x y".c``, spaces around dots) and the index
    after it, or None. Each character is looked at once: a quoted part ends at the next quote (``find``),
    a bare one at the first character that is not a bare-key character."""
    parts: list[str] = []
    while True:
        i = _skip_space(line, i)
        if i < len(line) and line[i] in "\"'":
            end = line.find(line[i], i + 1)
            if end < 0:
                return None
            parts.append(line[i + 1:end])
            i = end + 1
        else:
            start = i
            while i < len(line) and line[i] in _BARE:
                i += 1
            if i == start:
                return None
            parts.append(line[start:i])
        i = _skip_space(line, i)
        if i < len(line) and line[i] == ".":
            i += 1
            continue
        return parts, i


def _header(line: str) -> tuple[bool, list[str]] | None:
    """``[a.b]`` → (False, [a, b]); ``[[nodes]]`` → (True, [nodes]); None for any other line."""
    i = _skip_space(line, 0)
    if not line.startswith("[", i):
        return None
    double = line.startswith("[[", i)
    found = _dotted_key(line, i + (2 if double else 1))
    if found is None:
        return None
    parts, i = found
    close = "]]" if double else "]"
    if not line.startswith(close, i):
        return None
    rest = line[i + len(close):].strip()
    return (double, parts) if not rest or rest.startswith("#") else None


def _key(line: str) -> tuple[list[str], int] | None:
    """``key = …`` (dotted or quoted) → its parts and the index after the ``=``; None otherwise."""
    found = _dotted_key(line, 0)
    if found is None:
        return None
    parts, i = found
    return (parts, i + 1) if line.startswith("=", i) else None


def _opens_string(text: str) -> str | None:
    """The multi-line string delimiter ``text`` leaves open (an odd number of them), if any."""
    for quote in ('"""', "'''"):
        if text.count(quote) % 2 == 1:
            return quote
    return None


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
        header = _header(line)
        if header is not None:
            double, parts = header
            if double:  # a new item of the array: the index of its last part is new
                base = (*_resolve(parts[:-1], counts), parts[-1])
                index = counts.get(base, -1) + 1
                counts[base] = index
                table = (*base, index)
            else:
                table = _resolve(parts, counts)
            found.setdefault(table, number)
            continue
        key = _key(line)
        if key is not None:
            parts, end = key
            found.setdefault((*table, *parts), number)
            in_string = _opens_string(line[end:])
        else:  # a line of a multi-line array or inline table may open a string too
            in_string = _opens_string(line)
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
