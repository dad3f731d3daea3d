"""Start-up cost of ``engine="dask"``: Nannies in fresh processes against LocalCluster's own.

Why: tunefleet's Dask cluster starts each Nanny as ``python -m tunefleet.worker.dask_nanny``
so that no worker runs the user's script again (see ``tunefleet.executors.dask_cluster``).
That costs one more interpreter start per worker; this measures what a user waits for:

  first_result_s  from just before ``tune.run`` until the first trial's first report;
  run_s           the whole ``tune.run`` call (4 one-report trials, cluster closed).

``nanny=fresh`` is tunefleet's cluster; ``nanny=in-driver`` is Dask's LocalCluster Nanny
(``cluster_kwargs={"worker_class": distributed.Nanny}``), which needs the script's
``__main__`` guard. Each run is a fresh ``python`` process; runs alternate between the two;
the output gives every figure and the medians, as JSON.

    python benchmarks/dask_startup.py [--repeat 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import tunefleet as tune
    from tunefleet.executors.dask import DaskExecutor

    def f(config):
        tune.report(t=time.time())

    if __name__ == "__main__":
        kwargs = {}
        if sys.argv[1] == "in-driver":
            import distributed
            kwargs["worker_class"] = distributed.Nanny
        t0 = time.time()
        r = tune.run(f, config={"x": tune.uniform(0, 1)}, num_samples=4, verbose=0,
                     engine=DaskExecutor(n_workers=int(sys.argv[2]), cluster_kwargs=kwargs),
                     storage_path=sys.argv[3])
        t1 = time.time()
        first = min(t.last_result["t"] for t in r.trials) - t0
        print(json.dumps({"first_result_s": round(first, 3), "run_s": round(t1 - t0, 3)}))
    """
)


def _once(kind: str, workers: int, store: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, kind, str(workers), store],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"fresh": [], "in-driver": []}
    with tempfile.TemporaryDirectory() as store:
        for _ in range(args.repeat):
            for kind in runs:
                runs[kind].append(_once(kind, args.workers, store))
    report = {
        kind: {
            key: {"median": statistics.median(r[key] for r in rs), "all": [r[key] for r in rs]}
            for key in ("first_result_s", "run_s")
        }
        for kind, rs in runs.items()
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
