"""Terminal escape sequences in agent output, dropped when the terminal client writes to a file or a pipe
(``orchestra watch > log.txt``): a plain-text agent's colours are for a terminal, not for a file.

A scanner, not a regex: one pass over the text, whatever it holds (agent output is untrusted)."""

from __future__ import annotations

ESC, BEL = "\x1b", "\x07"


def strip_ansi(text: str) -> str:
    """``text`` without CSI (``ESC [ … final``), OSC (``ESC ] … BEL`` or ``ESC \\``) and two-character
    escape sequences, and without the other C0 control characters but tab and newline."""
    if ESC not in text and not any(c < " " and c not in "\t\n" for c in text):
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != ESC:
            if c >= " " or c in "\t\n":
                out.append(c)
            i += 1
            continue
        kind = text[i + 1] if i + 1 < n else ""
        if kind == "[":  # CSI: parameter and intermediate bytes, then one final byte in @..~
            i += 2
            while i < n and not ("@" <= text[i] <= "~"):
                i += 1
            i += 1
        elif kind == "]":  # OSC: up to BEL or ESC \
            i += 2
            while i < n and text[i] != BEL and not (text[i] == ESC and text[i + 1:i + 2] == "\\"):
                i += 1
            i += 1 if i < n and text[i] == BEL else 2
        else:
            i += 2
    return "".join(out)
