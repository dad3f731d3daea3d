"""tunefleet: hyperparameter search that runs unchanged on one machine or a cluster."""

__version__ = "0.1.0"
