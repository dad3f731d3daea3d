"""``ray.tune.utils.mock_trainable.MyTrainableClass``: the small class trainable Ray's
examples use — a deterministic curve that rises with ``width`` and ``height`` — written
for tunefleet."""

from __future__ import annotations

import json
import os
from typing import Any

from tunefleet.trainable import Trainable


class MyTrainableClass(Trainable):
    """Example class trainable: ``episode_reward_mean`` grows with the step count."""

    def setup(self, config: dict[str, Any], **kwargs: Any) -> None:
        self.timestep = 0

    def step(self) -> dict[str, Any]:
        self.timestep += 1
        width = float(self.config.get("width", 1))
        height = float(self.config.get("height", 1))
        value = self.timestep / (width + 1) + height * 0.1
        return {"episode_reward_mean": value, "timesteps_total": self.timestep}

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        with open(os.path.join(checkpoint_dir, "checkpoint.json"), "w") as f:
            json.dump({"timestep": self.timestep}, f)

    def load_checkpoint(self, checkpoint: Any) -> None:
        with open(os.path.join(str(checkpoint), "checkpoint.json")) as f:
            self.timestep = json.load(f)["timestep"]
