#!/usr/bin/env bash
# The `tunefleet bench` runs recorded in docs/benchmarks.md (issue 6), one after another.
#   [FROM=name] [ONLY="name ..."] benchmarks/bench_suite.sh OUT_DIR [DATA_DIR]
#   (FROM: start at that run; ONLY: just those runs)
# Generates 1 M rows x 10 features (seed 0) unless DATA_DIR is given, then runs the five
# classifiers on every engine and both peers, one injected-failure run, the scheduler
# comparison and the data-parallel MLP comparison. Each run writes OUT_DIR/<name>/bench.*.
set -euo pipefail
OUT=${1:?usage: bench_suite.sh OUT_DIR [DATA_DIR]}
DATA=${2:-$OUT/data-1m}
TF=${TUNEFLEET:-tunefleet}
mkdir -p "$OUT"
if [ ! -f "$DATA/metadata.json" ]; then
  $TF data synth --rows 1000000 --features 10 --classes 2 --informative 5 --seed 0 --out "$DATA"
fi
ALL="--engines local,ray,dask,spark --peers raytune,optuna"
[ -n "${FROM:-}" ] && skip=1 || skip=0
wanted() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
run() { name=$1; shift; [ "$skip" = 1 ] && [ "$name" != "$FROM" ] && return 0; skip=0
  wanted "$name" || return 0
  echo "== $name: $*"; $TF bench run --data "$DATA" --out "$OUT/$name" "$@" \
  --price-per-core-hour 0.0425 --spot-price-per-core-hour 0.0128 || echo "!! $name failed"; }
run lightgbm      --workload lightgbm      $ALL --trials 8 --scheduler asha
run xgboost       --workload xgboost       $ALL --trials 8 --scheduler asha
run logreg        --workload logreg        $ALL --trials 8 --scheduler asha
# KNN has no iterations to stop early and predicting 10,000 rows against 800,000 costs
# 30-100 s per trial here: 2 trials (one round of 2 concurrent) per system.
run knn           --workload knn           $ALL --trials 2
run lightgbm-kill --workload lightgbm      $ALL --trials 6 --scheduler asha --inject-failure
# Many trials at once (2 x 1 process) against one trial across 2 processes (torch.distributed).
run mlp-2x1       --workload mlp $ALL --trials 4 --rows 100000 --scheduler asha
run mlp-1x2       --workload mlp --engines local,ray,dask,spark --trials 4 --rows 100000 --scheduler asha --workers-per-trial 2
run random-forest --workload random-forest $ALL --trials 4 --scheduler asha
# Compute to reach grid search's best: logistic regression (flat: every method gets within
# 0.0002 of grid's best) and LightGBM (configurations differ), on the first 200,000 rows.
sched() { name=schedulers-$1; [ "$skip" = 1 ] && [ "$name" != "$FROM" ] && return 0; skip=0
  wanted "$name" || return 0
  echo "== $name"; $TF bench schedulers --workload "$1" --data "$DATA" --rows 200000 \
    --out "$OUT/$name" || echo "!! $name failed"; }
sched logreg
sched lightgbm
