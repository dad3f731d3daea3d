"""``ray.init(...)`` / ``ray.shutdown()`` / ``ray.is_initialized()`` for Tune scripts.

tunefleet starts its workers per run (``engine=``), so there is no cluster to start
first. ``init`` accepts ``ray.init``'s common arguments, checks their types, remembers
them (``init_args()``) and warns once for each that changes nothing here; a script's
``ray.init(...)`` line then migrates as ``tunefleet.init(...)``.
"""

from __future__ import annotations

from typing import Any

from tunefleet.errors import TuneTypeError
from tunefleet.legacy_args import warn_once

# ray.init arguments accepted (all of them change nothing: tunefleet has no cluster here)
_ACCEPTED = {
    "address",
    "num_cpus",
    "num_gpus",
    "resources",
    "labels",
    "object_store_memory",
    "local_mode",
    "ignore_reinit_error",
    "include_dashboard",
    "dashboard_host",
    "dashboard_port",
    "job_config",
    "configure_logging",
    "logging_level",
    "logging_format",
    "log_to_driver",
    "namespace",
    "runtime_env",
    "storage",
    "_temp_dir",
    "_system_config",
    "_node_ip_address",
    "_memory",
    "_redis_password",
    "_plasma_directory",
    "_metrics_export_port",
}
_state: dict[str, Any] = {"initialized": False, "args": {}}


def init(address: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Accept ``ray.init``'s arguments; tunefleet needs no cluster started beforehand
    (use ``run(engine="ray")`` / ``RunConfig(engine="ray://host:10001")`` for Ray)."""
    unknown = sorted(set(kwargs) - _ACCEPTED)
    if unknown:
        raise TuneTypeError(f"init() got unexpected keyword argument(s): {', '.join(unknown)}")
    for key in ("num_cpus", "num_gpus"):
        value = kwargs.get(key)
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            raise TuneTypeError(f"{key}: expected a number >= 0, got {value!r}")
    given = {"address": address, **kwargs}
    for key, value in given.items():
        if value is not None and value is not False:
            warn_once(
                f"init({key}=...)",
                "tunefleet starts its workers per run; choose them with engine=",
                stacklevel=3,
            )
    _state["initialized"] = True
    _state["args"] = given
    return {"address": address}


def shutdown() -> None:
    _state["initialized"] = False
    _state["args"] = {}


def is_initialized() -> bool:
    return bool(_state["initialized"])


def init_args() -> dict[str, Any]:
    """The arguments of the last ``init`` call."""
    return dict(_state["args"])
