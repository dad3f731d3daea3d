"""Callbacks: hooks users override to observe an experiment (Ray Tune's ``Callback``).

The runner calls them in the driver from the records the engine emits, so they see
exactly what the store sees. Every hook is a no-op by default; override what you need.
"""

from __future__ import annotations

from typing import Any

from tunefleet.trial import Trial


class Callback:
    def setup(self, **info: Any) -> None:
        """Before the first trial starts."""

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        pass

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        pass

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        pass

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        pass

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        pass
