# Ray 2.x: PyTorch Lightning TuneReportCheckpointCallback; a retried trial resumes the fit
import os

import lightning.pytorch as pl
import torch
from ray import train, tune
from ray.tune.integration.pytorch_lightning import TuneReportCheckpointCallback

torch.manual_seed(0)
X = torch.randn(64, 3)
Y = X @ torch.tensor([[1.0], [-2.0], [0.5]])


class Linear(pl.LightningModule):
    def __init__(self, lr):
        super().__init__()
        self.lr = lr
        self.layer = torch.nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def train_fn(config):
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=16)
    trainer = pl.Trainer(
        max_epochs=4,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        callbacks=[TuneReportCheckpointCallback({"loss": "val_loss"}, on="validation_end")],
    )
    checkpoint = train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            trainer.fit(Linear(config["lr"]), data, data, ckpt_path=os.path.join(d, "checkpoint"))
        return
    trainer.callbacks.append(_CrashAfterTwoEpochs())
    trainer.fit(Linear(config["lr"]), data, data)


class _CrashAfterTwoEpochs(pl.Callback):
    def on_validation_end(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("the first attempt dies after two epochs")


results = tune.Tuner(
    train_fn,
    param_space={"lr": 0.1},
    tune_config=tune.TuneConfig(metric="loss", mode="min"),
    run_config=train.RunConfig(failure_config=train.FailureConfig(max_failures=1)),
).fit()
assert not results.errors, results.errors
best = results.get_best_result()
# 2 epochs before the crash, then epochs 3 and 4 resumed from the checkpoint of epoch 2
assert best.metrics["training_iteration"] == 4, best.metrics
assert best.metrics["loss"] < 1.0
print("ok", best.metrics["loss"])
