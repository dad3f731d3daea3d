# Ray 2.0-2.6: Keras ReportCheckpointCallback; the best model loads from its checkpoint
import os

import keras
import numpy as np
from ray import air, tune
from ray.air.integrations.keras import ReportCheckpointCallback

rng = np.random.default_rng(0)
X = rng.normal(size=(128, 4)).astype("float32")
y = (X @ np.array([1.0, -1.0, 0.5, 2.0], dtype="float32")).reshape(-1, 1)


def train_keras(config):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(config["lr"]), loss="mse")
    model.fit(
        X,
        y,
        validation_split=0.25,
        epochs=3,
        batch_size=32,
        verbose=0,
        callbacks=[ReportCheckpointCallback(metrics={"loss": "val_loss"})],
    )


results = tune.Tuner(
    train_keras,
    param_space={"lr": 0.05},
    tune_config=tune.TuneConfig(metric="loss", mode="min"),
    run_config=air.RunConfig(verbose=0),
).fit()
best = results.get_best_result()
assert best.metrics["training_iteration"] == 3, best.metrics
with best.checkpoint.as_directory() as d:
    model = keras.models.load_model(os.path.join(d, "model.keras"))
assert model.predict(X[:2], verbose=0).shape == (2, 1)
print("ok", best.metrics["loss"])
