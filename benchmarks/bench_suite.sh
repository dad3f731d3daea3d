#!/usr/bin/env bash
# The `tunefleet bench` runs recorded in docs/benchmarks.md (issue 6), one after another.
#   benchmarks/bench_suite.sh OUT_DIR [DATA_DIR]
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
run() { name=$1; shift; echo "== $name: $*"; $TF bench run --data "$DATA" --out "$OUT/$name" "$@" \
  --price-per-core-hour 0.0425 --spot-price-per-core-hour 0.0128 || echo "!! $name failed"; }
run lightgbm      --workload lightgbm      $ALL --trials 8 --scheduler asha
run xgboost       --workload xgboost       $ALL --trials 8 --scheduler asha
run logreg        --workload logreg        $ALL --trials 8 --scheduler asha
run knn           --workload knn           $ALL --trials 6
run random-forest --workload random-forest $ALL --trials 4 --scheduler asha
run lightgbm-kill --workload lightgbm      $ALL --trials 6 --scheduler asha --inject-failure
run mlp-1x2       --workload mlp --engines local,ray,dask,spark --trials 4 --rows 200000 --scheduler asha
run mlp-2workers  --workload mlp --engines local,ray,dask,spark --trials 4 --rows 200000 --scheduler asha --workers-per-trial 2
echo "== schedulers"
$TF bench schedulers --workload logreg --data "$DATA" --rows 200000 --out "$OUT/schedulers-logreg" || echo "!! schedulers failed"
