"""TOML text the way a person writes it, for exported flow files (tomli_w escapes each value)."""

from __future__ import annotations

from typing import Any

import tomli_w

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def dumps(doc: dict[str, Any]) -> str:
    """TOML the way a person would write it: top-level keys, then ``[table]`` and one ``[[array]]``
    table per item, each key on its own line, small tables and lists inline, long text as multi-line
    strings (tomli_w writes each value: its escaping is the part worth not writing by hand)."""
    out = [_key_line(key, value) for key, value in doc.items() if not isinstance(value, dict | list)]
    for key, value in doc.items():
        if isinstance(value, dict):
            out += ["", f"[{key}]", *(_key_line(k, v) for k, v in value.items())]
        elif isinstance(value, list):
            for item in value:
                out += ["", f"[[{key}]]", *(_key_line(k, v) for k, v in item.items())]
    return "\n".join(out) + "\n"


def _key_line(key: str, value: Any) -> str:
    return f"{_key(key)} = {_value(value, multiline=True)}"


def _key(key: str) -> str:
    return key if key and set(key) <= _BARE else _value(key, multiline=False)


def _value(value: Any, *, multiline: bool) -> str:
    if isinstance(value, dict):
        items = ", ".join(f"{_key(k)} = {_value(v, multiline=False)}" for k, v in value.items() if v is not None)
        return f"{{ {items} }}" if items else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(item, multiline=False) for item in value) + "]"
    return tomli_w.dumps({"v": value}, multiline_strings=multiline).removeprefix("v = ").removesuffix("\n")
