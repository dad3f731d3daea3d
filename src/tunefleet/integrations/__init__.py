"""Integrations: logger callbacks (CSV, JSON, TensorBoard), experiment trackers (MLflow,
Weights & Biases) and training-framework callbacks (XGBoost, LightGBM).

Each module imports its framework only when used, so importing a module here is cheap and
works without the framework installed; the error names the package to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import an optional framework, or raise ImportError naming what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is needed here: pip install {module.split('.')[0]} (or tunefleet[{extra}])"
        ) from exc
