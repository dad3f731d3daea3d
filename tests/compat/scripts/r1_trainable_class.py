# Ray 1.x: a Trainable class with checkpoints, checkpoint_freq, keep_checkpoints_num
import os
import pickle

from ray import tune


class Counter(tune.Trainable):
    def setup(self, config):
        self.total = 0.0

    def step(self):
        self.total += self.config["inc"]
        return {"mean_accuracy": self.total}

    def save_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "s.pkl"), "wb") as f:
            pickle.dump(self.total, f)
        return checkpoint_dir

    def load_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "s.pkl"), "rb") as f:
            self.total = pickle.load(f)


analysis = tune.run(
    Counter,
    config={"inc": tune.grid_search([1.0, 2.0])},
    stop={"training_iteration": 3},
    checkpoint_freq=1,
    keep_checkpoints_num=1,
    checkpoint_score_attr="mean_accuracy",
    checkpoint_at_end=True,
    metric="mean_accuracy",
    mode="max",
)
assert analysis.best_config == {"inc": 2.0}
assert analysis.best_checkpoint is not None
print("ok", analysis.best_result["mean_accuracy"])
