"""The controller: a pure state machine that owns the trials and the loop policy."""

from tunefleet.engine.core import Engine, EngineConfig
from tunefleet.protocol import Command, HaltTrial, LaunchTrial, Reply

__all__ = ["Command", "Engine", "EngineConfig", "HaltTrial", "LaunchTrial", "Reply"]
