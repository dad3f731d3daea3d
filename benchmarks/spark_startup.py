"""Start-up cost of ``engine="spark"`` with and without the driver's class-data archive.

Why: ``tunefleet.executors.spark_classcache`` keeps a JVM class-data archive (JEP 350) so
the driver JVM maps Spark's classes instead of loading them; it is verified (size and
SHA-256 against its seal) before every use. This measures what a user waits for, and
what the check costs:

  first_result_s  from just before ``tune.run`` until the first trial's first report;
  run_s           the whole ``tune.run`` call (4 one-report trials, context stopped);
  check_s         ``spark_classcache.java_options()`` alone: the archive's verification
                  (only with the archive).

``archive=on`` uses an archive built once, before any timing, in a temporary cache
directory (``TUNEFLEET_CACHE_DIR``); ``archive=off`` sets ``TUNEFLEET_SPARK_CLASS_CACHE=0``.
Each run is a fresh ``python`` process; the two alternate (off, on, off, on, ...); the
output gives every figure, the medians and the paired ratios on/off, as JSON.

    python benchmarks/spark_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import tunefleet as tune
    from tunefleet.executors import spark_classcache
    from tunefleet.executors.spark import SparkExecutor

    def f(config):
        tune.report(t=time.time())

    t = time.perf_counter()
    options = spark_classcache.java_options()
    check = time.perf_counter() - t
    t0 = time.time()
    r = tune.run(f, config={"x": tune.uniform(0, 1)}, num_samples=4, verbose=0,
                 engine=SparkExecutor(), storage_path=sys.argv[1])
    t1 = time.time()
    first = min(t.last_result["t"] for t in r.trials) - t0
    print(json.dumps({"first_result_s": round(first, 3), "run_s": round(t1 - t0, 3),
                      "check_s": round(check, 3), "archive": bool(options)}))
    """
)

KEYS = ("first_result_s", "run_s", "check_s")


def _once(kind: str, cache: str, store: str) -> dict[str, float]:
    env = dict(os.environ, TUNEFLEET_CACHE_DIR=cache)
    env["TUNEFLEET_SPARK_CLASS_CACHE"] = "1" if kind == "on" else "0"
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, store],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    )
    figures: dict = json.loads(out.stdout.strip().splitlines()[-1])
    if figures.pop("archive") != (kind == "on"):
        raise SystemExit(f"archive={kind}: the driver did not get what was asked")
    return figures


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as store:
        os.environ["TUNEFLEET_CACHE_DIR"] = cache
        from tunefleet.executors import spark_classcache

        archive = spark_classcache.ensure()
        if archive is None:
            raise SystemExit("the archive could not be built (no Java or Spark?)")
        size = archive.stat().st_size
        for _ in range(args.repeat):
            for kind in runs:
                runs[kind].append(_once(kind, cache, store))
    report: dict = {"archive_bytes": size, "repeat": args.repeat}
    for kind, rs in runs.items():
        keys = KEYS if kind == "on" else KEYS[:2]
        report[kind] = {k: {**_spread([r[k] for r in rs]), "all": [r[k] for r in rs]} for k in keys}
    report["ratio_on_over_off"] = {
        key: _spread([on[key] / off[key] for off, on in zip(runs["off"], runs["on"], strict=True)])
        for key in ("first_result_s", "run_s")
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
