"""A real sweep on the embedded default: 60 trials of a scikit-learn SGD classifier on the
digits dataset (shipped with scikit-learn), trained epoch by epoch on local worker
processes, every result stored in SQLite under ./tunefleet_runs/.

Run it with ``make demo`` (or ``python examples/quickstart.py``).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

import tunefleet as tune


def load_digits_split() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(x_train)
    return {
        "x_train": scaler.transform(x_train),
        "y_train": y_train,
        "x_val": scaler.transform(x_val),
        "y_val": y_val,
    }


def train_sgd(config: dict[str, Any], data: dict[str, np.ndarray]) -> None:
    """One trial: 15 epochs of SGD (one partial_fit pass each), reporting validation
    accuracy after every epoch."""
    from sklearn.linear_model import SGDClassifier

    model = SGDClassifier(
        loss=config["loss"],
        penalty=config["penalty"],
        alpha=config["alpha"],
        learning_rate="adaptive",
        eta0=config["eta0"],
        l1_ratio=config["l1_ratio"],
        average=config["average"],
        random_state=0,
    )
    classes = np.unique(data["y_train"])
    rng = np.random.default_rng(0)
    for _epoch in range(config["epochs"]):
        order = rng.permutation(len(data["y_train"]))
        model.partial_fit(data["x_train"][order], data["y_train"][order], classes=classes)
        tune.report(accuracy=float(model.score(data["x_val"], data["y_val"])))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="tunefleet quickstart sweep")
    parser.add_argument("--num-samples", type=int, default=60)
    parser.add_argument("--storage-path", default="./tunefleet_runs")
    args = parser.parse_args(argv)
    data = load_digits_split()
    results = tune.run(
        tune.with_parameters(train_sgd, data=data),  # shipped once per worker, not per trial
        config={
            "loss": tune.choice(["hinge", "log_loss", "modified_huber"]),
            "penalty": tune.choice(["l2", "l1", "elasticnet"]),
            "alpha": tune.loguniform(1e-6, 1e-1),
            "eta0": tune.loguniform(1e-4, 1.0),
            "l1_ratio": tune.uniform(0.0, 1.0),
            "average": tune.choice([False, True]),
            "epochs": 15,
        },
        num_samples=args.num_samples,
        storage_path=args.storage_path,
        metric="accuracy",
        mode="max",
        name=None,  # a timestamped name; pass name="..." to choose one
        seed=0,
    )
    df = results.dataframe()
    cols = [
        "trial_id",
        "accuracy",
        "training_iteration",
        "config/loss",
        "config/penalty",
        "config/alpha",
        "config/eta0",
        "config/average",
    ]
    print("\nTop 5 trials:")
    print(df.sort_values("accuracy", ascending=False)[cols].head(5).to_string(index=False))
    print(f"\nBest accuracy: {results.best_result['accuracy']:.4f}")
    print(f"Best config:   {results.best_config}")
    print(f"Results:       {results.experiment_path}")
    print(f"Inspect with:  tunefleet show {results.name} --storage-path {args.storage_path}")
    print(f"Browse it:     tunefleet dashboard --storage-path {args.storage_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
