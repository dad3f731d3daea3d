"""``ray.tune.constants`` and ``ray.air.constants``: the same names and values as Ray's.

``TUNE_ENV_VARS`` is Ray's list of variable names, kept so code that inspects it runs;
tunefleet reads none of them (``RAY_CHDIR_TO_TRIAL_DIR``, which it does read, is not in
Ray's list either). ``params.json``, ``progress.csv`` and ``result.json`` are the files
tunefleet's loggers write in each trial's directory (``tunefleet.integrations.loggers``);
the pickle and error file names are Ray's, and tunefleet writes no such files.
"""

from __future__ import annotations

# ray.tune.constants
TUNE_ENV_VARS = {
    "RAY_AIR_LOCAL_CACHE_DIR",
    "RAY_AIR_FULL_TRACEBACKS",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS",
    "TUNE_DISABLE_AUTO_CALLBACK_SYNCER",
    "TUNE_DISABLE_AUTO_INIT",
    "TUNE_DISABLE_DATED_SUBDIR",
    "TUNE_DISABLE_STRICT_METRIC_CHECKING",
    "TUNE_DISABLE_SIGINT_HANDLER",
    "TUNE_FALLBACK_TO_LATEST_CHECKPOINT",
    "TUNE_FORCE_TRIAL_CLEANUP_S",
    "TUNE_GET_EXECUTOR_EVENT_WAIT_S",
    "TUNE_FUNCTION_THREAD_TIMEOUT_S",
    "TUNE_GLOBAL_CHECKPOINT_S",
    "TUNE_MAX_LEN_IDENTIFIER",
    "TUNE_MAX_PENDING_TRIALS_PG",
    "TUNE_NODE_SYNCING_MIN_ITER_THRESHOLD",
    "TUNE_NODE_SYNCING_MIN_TIME_S_THRESHOLD",
    "TUNE_PLACEMENT_GROUP_PREFIX",
    "TUNE_PLACEMENT_GROUP_RECON_INTERVAL",
    "TUNE_PRINT_ALL_TRIAL_ERRORS",
    "TUNE_RESULT_DIR",
    "TUNE_RESULT_BUFFER_LENGTH",
    "TUNE_RESULT_DELIM",
    "TUNE_RESULT_BUFFER_MAX_TIME_S",
    "TUNE_RESULT_BUFFER_MIN_TIME_S",
    "TUNE_WARN_THRESHOLD_S",
    "TUNE_WARN_INSUFFICENT_RESOURCE_THRESHOLD_S",
    "TUNE_WARN_INSUFFICENT_RESOURCE_THRESHOLD_S_AUTOSCALER",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S",
    "TUNE_STATE_REFRESH_PERIOD",
    "TUNE_RESTORE_RETRY_NUM",
    "TUNE_CHECKPOINT_CLOUD_RETRY_NUM",
    "TUNE_CHECKPOINT_CLOUD_RETRY_WAIT_TIME_S",
}

# ray.air.constants: keys of checkpoint dicts and datasets
PREPROCESSOR_KEY = "_preprocessor"
MODEL_KEY = "model"
EVALUATION_DATASET_KEY = "evaluation"
TRAIN_DATASET_KEY = "train"
WILDCARD_KEY = "*"
TENSOR_COLUMN_NAME = "__value__"
MAX_REPR_LENGTH = int(80 * 1.5)

# ray.air.constants: result keys and the files of a trial's directory
TRAINING_ITERATION = "training_iteration"
TIMESTAMP = "timestamp"
TIME_THIS_ITER_S = "time_this_iter_s"
EXPR_PARAM_FILE = "params.json"
EXPR_PARAM_PICKLE_FILE = "params.pkl"
EXPR_PROGRESS_FILE = "progress.csv"
EXPR_RESULT_FILE = "result.json"
EXPR_ERROR_FILE = "error.txt"
EXPR_ERROR_PICKLE_FILE = "error.pkl"
