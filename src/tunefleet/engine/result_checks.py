"""What the engine checks on each result about the experiment's metric, and says once.

A metric that is never reported is the most common silent failure of a sweep (a typo in
``metric=`` or in ``report()``): the first result without it gets one warning naming the
keys that were reported, and the runner raises at the end if no result ever had it.
NaN and inf are recorded as reported and treated as the worst score by schedulers; the
first one gets one warning.
"""

from __future__ import annotations

import math
from typing import Any

from tunefleet.trial import AUTO_RESULT_FIELDS

_AUTO = frozenset(AUTO_RESULT_FIELDS)


class MetricWatch:
    """Watches ``metric`` (None: nothing to watch) across every result of an experiment."""

    __slots__ = ("metric", "seen", "_missing_warned", "_nonfinite_warned")

    def __init__(self, metric: str | None) -> None:
        self.metric = metric
        self.seen = metric is None  # some result has carried the metric
        self._missing_warned = False
        self._nonfinite_warned = False

    def observe(self, trial_id: str, result: dict[str, Any]) -> str | None:
        """A warning to show (at most one of each kind per experiment), or None."""
        metric = self.metric
        if metric is None:
            return None
        value = result.get(metric)
        if value is None:
            if self._missing_warned:
                return None
            self._missing_warned = True
            return (
                f"trial {trial_id} reported a result without metric {metric!r} "
                f"(reported keys: {sorted(k for k in result if k not in _AUTO)})"
            )
        self.seen = True
        if not self._nonfinite_warned and isinstance(value, float) and not math.isfinite(value):
            self._nonfinite_warned = True
            return (
                f"trial {trial_id} reported {metric}={value}; non-finite values are "
                "recorded and treated as the worst score by schedulers"
            )
        return None
