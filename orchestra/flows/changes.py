"""One difference between a project and a flow file, as ``POST /flows/apply`` reports it (``diff``, ``changes``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class Change:
    """One difference between a project and a flow: ``fields`` maps a changed field to (now, then)."""

    op: Literal["create", "update", "delete"]
    what: Literal["project", "template", "node"]
    id: str
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def describe(self) -> str:
        mark = {"create": "+", "update": "~", "delete": "-"}[self.op]
        text = f"{mark} {self.what} {self.id}"
        if self.op == "update":
            text += ": " + "; ".join(f"{name} {_short(old)} -> {_short(new)}"
                                     for name, (old, new) in self.fields.items())
        return text

    def as_json(self) -> dict[str, Any]:
        return {"op": self.op, "what": self.what, "id": self.id,
                "fields": {name: {"from": old, "to": new} for name, (old, new) in self.fields.items()}}


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
