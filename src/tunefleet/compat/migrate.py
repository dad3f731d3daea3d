"""Rewrite a Ray Tune script's import lines for tunefleet, and nothing else.

``import ray`` -> ``import tunefleet as ray``; ``from ray import x`` -> ``from tunefleet
import x``; ``from ray.a.b import x`` -> ``from tunefleet.a.b import x``; ``import
ray.tune as tune`` -> ``import tunefleet.tune as tune``. Every other line is kept byte for
byte, and :func:`changed_lines` lets a test check that only import lines changed.

``python -m tunefleet.compat.migrate script.py`` prints the migrated script.
"""

from __future__ import annotations

import re
import sys

_IMPORT_RAY = re.compile(r"^(\s*)import ray(\s*(#.*)?)$")
_FROM_RAY = re.compile(r"^(\s*)from ray((\.[\w.]+)?) import ")
_IMPORT_RAY_AS = re.compile(r"^(\s*)import ray((\.[\w.]+)) as ")


def migrate_line(line: str) -> str:
    m = _IMPORT_RAY.match(line)
    if m:
        return f"{m.group(1)}import tunefleet as ray{m.group(2)}"
    m = _FROM_RAY.match(line)
    if m:
        return f"{m.group(1)}from tunefleet{m.group(2)} import " + line[m.end() :]
    m = _IMPORT_RAY_AS.match(line)
    if m:
        return f"{m.group(1)}import tunefleet{m.group(2)} as " + line[m.end() :]
    return line


def migrate(source: str) -> str:
    return "\n".join(migrate_line(line) for line in source.split("\n"))


def changed_lines(before: str, after: str) -> list[str]:
    """The original lines that differ after migration (all must be imports)."""
    return [a for a, b in zip(before.split("\n"), after.split("\n"), strict=True) if a != b]


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        with open(arg, encoding="utf-8") as f:
            sys.stdout.write(migrate(f.read()))
