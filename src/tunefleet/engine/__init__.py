"""The controller: a pure state machine (events in, commands out)."""

from tunefleet.engine.core import Command, Engine, EngineConfig, LaunchTrial, Reply, StopTrial

__all__ = ["Command", "Engine", "EngineConfig", "LaunchTrial", "Reply", "StopTrial"]
