"""``SyncConfig``: Ray copies trial directories between nodes and to cloud storage.
tunefleet's trial directories go straight to ``checkpoint_storage`` (a path or fsspec
URL), so there is nothing to sync; the object is accepted and ignored with a warning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class SyncConfig:
    upload_dir: str | None = None
    syncer: Any = "auto"
    sync_period: int = 300
    sync_timeout: int = 1800
    sync_artifacts: bool = False
    sync_on_checkpoint: bool = True
