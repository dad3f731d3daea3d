"""``ray.tune.context`` and ``ray.train.context``: ``TuneContext``/``TrainContext`` and
``get_context()``.

Both classes are the worker's :class:`~tunefleet.worker.session.Session`, which carries
Ray's context methods (``get_trial_id``, ``get_trial_name``, ``get_trial_dir``,
``get_experiment_name``, ``get_world_rank``, ``get_world_size``, ``get_local_rank``,
``get_local_world_size``, ``get_node_rank``); ``get_context()`` returns the running
trial's session, as ``tune.get_context()`` does.
"""

from __future__ import annotations

from tunefleet.worker.session import Session, get_context

__all__ = ["TrainContext", "TuneContext", "get_context"]

TuneContext = Session
TrainContext = Session
