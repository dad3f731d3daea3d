"""Generator trainables: ``yield {"score": s}`` (or ``yield metrics, checkpoint``) per result.

Every executor accepts them, so a trainable written for the simulator's fast path also runs
unchanged on real workers, where each yielded item becomes one ``report()``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from tunefleet.worker.session import Session


def is_generator_function(fn: Callable[..., Any]) -> bool:
    """True for generator functions, also behind ``functools.partial``."""
    while True:
        if inspect.isgeneratorfunction(fn):
            return True
        inner = getattr(fn, "func", None)
        if inner is None or inner is fn:
            return False
        fn = inner


def split_item(item: Any) -> tuple[dict[str, Any], Any]:
    """``metrics`` or ``(metrics, checkpoint)`` → ``(metrics, checkpoint or None)``."""
    if isinstance(item, dict):
        return item, None
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], dict):
        return item[0], item[1]
    raise TypeError(
        "a generator trainable must yield a dict of metrics or (metrics, checkpoint), "
        f"got {type(item).__name__}"
    )


def report_yielded(gen: Iterator[Any], session: Session) -> None:
    """Drive a generator to its end, reporting each item (``None`` items are skipped)."""
    for item in gen:
        if item is None:
            continue
        try:
            metrics, checkpoint = split_item(item)
        except TypeError as exc:
            gen_throw = getattr(gen, "throw", None)
            if gen_throw is not None:
                gen_throw(exc)  # raised at the user's yield, so the traceback shows it
            raise
        session.report(metrics, checkpoint)
