"""Ray's ``trial_dirname_creator`` and ``chdir_to_trial_dir``: what a trial's directory is
called, and whether its attempts run in it.

A trial's directory is ``<experiment>/trials/<name>`` (``<checkpoint_storage>/<experiment>/
trials/<name>`` with a URL), ``<name>`` being the trial id or what
``trial_dirname_creator(trial)`` returned when the trial was created. The name is recorded
with the trial (``trial_created``'s ``dirname``), so a resume, ``Results`` and
``ExperimentAnalysis`` find the directory without the function.

With ``chdir_to_trial_dir`` on (Ray's default: ``RAY_CHDIR_TO_TRIAL_DIR=0`` turns it off, as
in Ray 2.7+) each attempt's working directory is its trial's directory; with the directory
at a URL, a local ``<experiment>/trials/<name>`` stands in (Ray's local trial directory).
The worker changes directory and back: :mod:`tunefleet.worker.working_dir`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError

__all__ = [
    "CHDIR_ENV",
    "chdir_default",
    "check_dirname",
    "dirname_function",
    "working_dir_function",
]

CHDIR_ENV = "RAY_CHDIR_TO_TRIAL_DIR"
_OFF = ("0", "false", "no", "off")


def chdir_default(value: Any) -> bool:
    """``chdir_to_trial_dir`` as given, else ``RAY_CHDIR_TO_TRIAL_DIR`` (on unless "0")."""
    if value is None or value == "DEPRECATED":  # Ray 2.7+'s placeholder default
        return os.environ.get(CHDIR_ENV, "1").strip().lower() not in _OFF
    if not isinstance(value, bool):
        raise TuneTypeError(f"chdir_to_trial_dir: expected True or False, got {value!r:.60}")
    return value


def check_dirname(name: Any, trial_id: str) -> str:
    """``name`` if it can be one folder's name; else the error, naming the parameter."""
    where = f"trial_dirname_creator returned {name!r:.80} for trial {trial_id}"
    if not isinstance(name, str):
        raise TuneTypeError(f"{where}: expected a str (one folder name)")
    bad = [sep for sep in ("/", "\\", os.sep, os.altsep or "/") if sep in name]
    if not name or name in (".", "..") or bad or "\0" in name:
        raise TuneValueError(
            f"{where}: expected one folder name, not empty, '.', '..' or a path (no '/' or '\\')"
        )
    if len(name.encode("utf-8", "surrogatepass")) > 255:
        raise TuneValueError(f"{where}: longer than the 255 bytes a folder name may have")
    return name


def dirname_function(
    creator: Any, trainable_name: str, callbacks: list[Any] | None = None
) -> Callable[[Any], str] | None:
    """The engine's ``trial_dirname``: the user's function called with Ray's view of the
    trial (``trial_id``, ``config``, ``trainable_name``, ``str(trial)``: the name that
    ``trial_name_creator`` gave, if any), its answer checked."""
    if creator is None:
        return None
    if not callable(creator):
        raise TuneTypeError(f"trial_dirname_creator: expected a function, got {creator!r:.60}")
    from tunefleet.callbacks import CallbackTrial, TrialNamer

    namer = next((cb.creator for cb in callbacks or () if isinstance(cb, TrialNamer)), None)

    def name_of(trial: Any) -> str:
        view = CallbackTrial(trial, "", trainable_name, namer)
        return check_dirname(creator(view), trial.trial_id)

    return name_of


def working_dir_function(trials_dir: str, local_trials_dir: str) -> Callable[[str], str]:
    """Where an attempt runs: its trial's directory, or a local stand-in for a URL one."""
    from tunefleet.checkpoint_store import is_url

    base = local_trials_dir if is_url(trials_dir) else trials_dir
    base = os.path.abspath(base)
    return lambda folder: os.path.join(base, folder)
