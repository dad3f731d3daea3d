"""Start-up cost of the local engine's worker processes, per start method, as JSON.

Why: how a worker process starts decides what it inherits from the driver (file
descriptors, the user's ``__main__``) and what the first result and every replacement of a
dead worker wait for. This measures the three moments a user waits on:

  start_s       ``LocalExecutor.start()`` returning (the driver is blocked that long);
  all_ready_s   from just before ``start()`` until every worker has answered a trivial
                trial (each trial reports its pid once, one trial per worker);
  replace_s     from the SIGKILL of one idle worker until its replacement answered a trial.

Each measurement runs in a fresh ``python`` process (``--workers`` workers, the main module
a few lines long; ``--numpy``: the main module and the trainable import numpy, the typical
heavy import). ``--threaded`` starts a thread in the driver first (the case that made the
engine switch start methods before issue 12). ``--src LABEL=DIR`` (repeatable) measures the
tunefleet under ``DIR`` (put first on ``PYTHONPATH``), e.g. an export of an older commit, so
two versions are compared in one interleaved run. Runs are interleaved across versions and
methods, repeated ``--repeat`` times; the table gives medians.

    python benchmarks/worker_startup.py [--methods default,fork,forkserver,spawn]
        [--workers 2] [--repeat 5] [--numpy] [--threaded] [--src old=/tmp/old/src ...]
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

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    {numpy}
    from tunefleet.executors.base import Finished, Launch, Reported, Resources
    from tunefleet.executors.local import LocalExecutor
    import tunefleet

    def trainable(config):
        {use_numpy}
        tunefleet.report({{"pid": os.getpid()}})

    def run_until_reported(ex, tids, out):
        for t in tids:
            ex.submit(Launch(t, {{}}, 0, os.path.join(out, t)))
        seen, ended = set(), set()
        while ended != set(tids):
            for e in ex.poll(0.05):
                if isinstance(e, Reported):
                    seen.add(e.result["pid"])
                elif isinstance(e, Finished):
                    ended.add(e.trial_id)
        return seen

    def main():
        if {threaded}:
            threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
        method = sys.argv[1] if sys.argv[1] != "default" else None
        n, out = int(sys.argv[2]), sys.argv[3]
        ex = LocalExecutor(num_cpus=n, start_method=method)
        t0 = time.perf_counter()
        ex.start(trainable, Resources(cpu=1), n, out)
        t_start = time.perf_counter() - t0
        run_until_reported(ex, [f"a{{i}}" for i in range(n)], out)
        t_ready = time.perf_counter() - t0
        pids = ex.worker_pids()
        victim = pids[0]
        t1 = time.perf_counter()
        os.kill(victim, signal.SIGKILL)
        while victim in ex.worker_pids():
            ex.poll(0.01)
        fresh = set(ex.worker_pids()) - {{victim}} - set(pids)
        assert len(fresh) == 1, (fresh, pids)
        assert fresh <= run_until_reported(ex, [f"r{{i}}" for i in range(n)], out)
        t_replace = time.perf_counter() - t1
        ex.close()
        print(json.dumps({{"start_s": t_start, "all_ready_s": t_ready, "replace_s": t_replace}}))

    if __name__ == "__main__":  # the old engine re-imported the main module (forkserver, spawn)
        main()
    """
)


def _once(
    method: str, workers: int, numpy: bool, threaded: bool, src: str | None
) -> dict[str, float]:
    code = CHILD.format(
        numpy="import numpy" if numpy else "",
        use_numpy="import numpy; numpy.ones(3).sum()" if numpy else "pass",
        threaded=threaded,
    )
    with tempfile.TemporaryDirectory() as tmp:
        script = f"{tmp}/main.py"
        with open(script, "w") as f:
            f.write(code)
        out = subprocess.run(
            [sys.executable, script, method, str(workers), tmp],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
            env=dict(os.environ, PYTHONPATH=src) if src else None,
        )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="default,fork,forkserver,spawn")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--numpy", action="store_true")
    ap.add_argument("--threaded", action="store_true")
    ap.add_argument("--src", action="append", default=[], metavar="LABEL=DIR")
    args = ap.parse_args()
    sources: list[tuple[str, str | None]] = [
        (item.partition("=")[0], item.partition("=")[2]) for item in args.src
    ] or [("", None)]
    systems = [
        (f"{label}:{m}" if label else m, m, src)
        for label, src in sources
        for m in args.methods.split(",")
    ]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in systems}
    for _, m, src in systems:  # warm-up: file cache, .pyc
        _once(m, args.workers, args.numpy, args.threaded, src)
    for _ in range(args.repeat):
        for name, m, src in systems:
            runs[name].append(_once(m, args.workers, args.numpy, args.threaded, src))
    table = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    print(json.dumps({"args": vars(args), "median": table, "runs": runs}, indent=1))
    for m, row in table.items():
        cells = "  ".join(f"{k} {v * 1000:7.1f} ms" for k, v in row.items())
        print(f"{m:>16}  {cells}", file=sys.stderr)


if __name__ == "__main__":
    main()
