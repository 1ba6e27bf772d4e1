"""How the scanners of untrusted text scale: the flow key-line scanner and a plan answer's fenced-block
finder, on the inputs that froze the hub (issue 25), at growing sizes, beside the backtracking regexes
they replaced (run only at the small sizes: they grow quadratically and worse).

    .venv/bin/python -m benchmarks.untrusted_text
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from orchestra.flows.key_lines import key_lines
from orchestra.runtime.plans import _fenced_blocks

# The replaced regexes, as they were (5d24be3): kept here only to show the difference.
_OLD_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_OLD_FENCED = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)
OLD_UP_TO = 2_000


def bracket_flow(spaces: int) -> str:
    return f'version = 1\n[project]\nname = "x"\ndescription = [\n"""\n[{" " * spaces}x\n"""\n]\n'


def fence(lines: int) -> str:
    return "```" + "\n" * lines


def seconds(work: Callable[[str], object], text: str) -> float:
    start = time.perf_counter()
    work(text)
    return time.perf_counter() - start


def old_headers(flow: str) -> list[re.Match[str] | None]:
    return [_OLD_HEADER.match(line) for line in flow.splitlines()]


def main() -> None:
    print("size      key_lines (new)  header regex (old)  fenced blocks (new)  fenced regex (old)")
    for size in (1_000, 2_000, 10_000, 100_000, 1_000_000):
        flow, answer = bracket_flow(size), fence(size)
        old_header = f"{seconds(old_headers, flow):.3f} s" if size <= OLD_UP_TO else "-"
        old_fenced = f"{seconds(_OLD_FENCED.findall, answer):.3f} s" if size <= 10 * OLD_UP_TO else "-"
        print(f"{size:>9,}  {seconds(key_lines, flow) * 1000:>11.2f} ms  {old_header:>18}  "
              f"{seconds(_fenced_blocks, answer) * 1000:>16.2f} ms  {old_fenced:>18}")


if __name__ == "__main__":
    main()
