"""Arrows point one way: the worker side imports nothing from executors/ or storage/.

Read from the source (every import statement, at any depth, lazy ones included), so a
function-level import that would only run on a GPU machine is caught here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tunefleet.worker

FORBIDDEN = ("tunefleet.executors", "tunefleet.storage")


def _imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_worker_imports_nothing_from_executors_or_storage() -> None:
    folder = Path(tunefleet.worker.__file__).parent
    files = sorted(folder.glob("*.py"))
    assert len(files) > 5  # the folder was found
    upward = [
        f"{path.name}: {name}"
        for path in files
        for name in _imported_modules(path)
        if name.startswith(FORBIDDEN)
    ]
    assert upward == []
