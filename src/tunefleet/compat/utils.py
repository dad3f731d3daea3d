"""``ray.tune.utils`` (``.util``, ``.log``): the helpers Tune scripts import from it."""

from __future__ import annotations

import enum
from typing import Any


class Verbosity(enum.IntEnum):
    """Ray's ``verbose=`` levels (``ray.tune.utils.log``); an int, so ``run`` takes it."""

    V0_MINIMAL = 0
    V1_EXPERIMENT = 1
    V2_TRIAL_NORM = 2
    V3_TRIAL_DETAILS = 3


def flatten_dict(dt: dict[str, Any], delimiter: str = "/") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a/b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in dt.items():
        if isinstance(value, dict) and value:
            for sub, v in flatten_dict(value, delimiter).items():
                out[f"{key}{delimiter}{sub}"] = v
        else:
            out[key] = value
    return out


def merge_dicts(d1: dict[str, Any], d2: dict[str, Any]) -> dict[str, Any]:
    """A deep merge: ``d2``'s values win; nested dicts merge."""
    out = dict(d1)
    for key, value in d2.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = value
    return out


def validate_save_restore(*args: Any, **kwargs: Any) -> bool:
    """Ray checks a Trainable class's save/restore round trip; tunefleet's
    ``tunefleet.testing`` suites do that. Always True here."""
    return True
