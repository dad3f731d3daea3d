"""What the engine checks on each result about the experiment's metric, and says once.

A metric that is never reported is the most common silent failure of a sweep (a typo in
``metric=`` or in ``report()``): the first result without it gets one warning naming the
keys that were reported, and the runner raises at the end if no result ever had it.
NaN and inf are recorded as reported and treated as the worst score by schedulers; the
first one gets one warning. A metric that is not a number (a string, a list) cannot be
ranked at all: the trial that reported it fails, with an error naming the key and the type.
With several objectives (``metric`` a list) each of them is watched the same way.
A stop criterion on a key that no result carries never stops anything: the first result
without it gets one warning, and the runner raises at the end if no result ever had it.
"""

from __future__ import annotations

import math
from typing import Any

from tunefleet.trial import AUTO_RESULT_FIELDS

_AUTO = frozenset(AUTO_RESULT_FIELDS)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


class MetricWatch:
    """Watches ``metric`` (None: nothing to watch; a list: each of several objectives) and the keys of dict stop criteria
    (``stop_keys``) across every result of an experiment."""

    __slots__ = (
        "metric",
        "metrics",
        "seen",
        "numeric_keys",
        "stop_unseen",
        "_missing_warned",
        "_nonfinite_warned",
        "_stop_warned",
    )

    def __init__(self, metric: str | list[str] | None, stop_keys: tuple[str, ...] = ()) -> None:
        self.metric = metric
        if metric is None:
            self.metrics: tuple[str, ...] = ()
        else:
            self.metrics = (metric,) if isinstance(metric, str) else tuple(metric)
        self.seen = metric is None  # some result has carried every metric
        # keys whose values must be numbers: the metrics, and the scheduler's own metric
        self.numeric_keys: tuple[str, ...] = self.metrics
        self.stop_unseen: set[str] = set(stop_keys)  # stop keys no result carried yet
        self._missing_warned = False
        self._nonfinite_warned = False
        self._stop_warned = False

    def not_a_number(self, result: dict[str, Any]) -> str | None:
        """The error for a result whose metric is not a number, or None."""
        for key in self.numeric_keys:
            value = result.get(key)
            if value is not None and not _is_number(value):
                return (
                    f"TuneTypeError: report(): metric {key!r} must be a number, got "
                    f"{type(value).__name__} {value!r:.80}; schedulers and searchers rank "
                    "trials by it, so this trial was stopped"
                )
        return None

    def stop_keys_missing(self, result: dict[str, Any]) -> str | None:
        """One warning for the first result that lacks a stop criterion's key."""
        unseen = self.stop_unseen
        if not unseen:
            return None
        for key in [k for k in unseen if k in result]:
            unseen.discard(key)
        if not unseen or self._stop_warned:
            return None
        self._stop_warned = True
        keys = ", ".join(f"stop[{k!r}]" for k in sorted(unseen))
        return (
            f"{keys}: the first result carries no such key (reported keys: "
            f"{sorted(result)}), so this criterion cannot stop a trial; the run fails at the "
            "end if no result ever carries it"
        )

    def observe(self, trial_id: str, result: dict[str, Any]) -> str | None:
        """A warning to show (at most one of each kind per experiment), or None."""
        if not self.metrics:
            return None
        missing = [m for m in self.metrics if result.get(m) is None]
        if missing:
            if self._missing_warned:
                return None
            self._missing_warned = True
            return (
                f"trial {trial_id} reported a result without metric {missing[0]!r} "
                f"(reported keys: {sorted(k for k in result if k not in _AUTO)})"
            )
        self.seen = True
        for metric in self.metrics:
            value = result[metric]
            if not self._nonfinite_warned and isinstance(value, float) and not math.isfinite(value):
                self._nonfinite_warned = True
                return (
                    f"trial {trial_id} reported {metric}={value}; non-finite values are "
                    "recorded and treated as the worst score by schedulers"
                )
        return None
