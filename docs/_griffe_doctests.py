"""A griffe extension for the docs site: doctest runs in docstrings become code blocks.

The package's docstrings show examples as ``>>>`` sessions, which plain Markdown would
render as nested block quotes (and read ``[a][b]`` in their output as a reference link).
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each top-level ``>>>`` run (up to the next blank line) in a ``pycon`` fence."""
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    in_fence = False
    while index < len(lines):
        line = lines[index]
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith(">>>"):
            end = index
            while end < len(lines) and lines[end].strip():
                end += 1
            out += ["```pycon", *lines[index:end], "```"]
            index = end
            continue
        out.append(line)
        index += 1
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Applies `fence_doctests` to every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
