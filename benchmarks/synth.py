"""Time and memory of ``tunefleet data synth`` on the issue's target size, as JSON.

Generates 5,000,000 rows x 10 features (2 classes, 5 informative, default chunk of
500,000 rows) as CSV and Parquet into a temporary directory, in this process (no
subprocess: ``ru_maxrss`` is then the generator's own peak, imports included), and prints
seconds, peak RSS, file sizes and rows per second. Targets: <= 60 s and <= 1 GB.

    python benchmarks/synth.py [--rows 5000000] [--features 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time

from tunefleet.bench.synth import peak_rss_bytes, synthesize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--informative", type=int, default=5)
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    parser.add_argument("--keep", help="write here and keep the files (default: a temp dir)")
    args = parser.parse_args()

    load_before = os.getloadavg()
    tmp = None if args.keep else tempfile.mkdtemp(prefix="tunefleet-synth-")
    out = args.keep or os.path.join(tmp or "", "set")
    try:
        t0 = time.perf_counter()
        meta = synthesize(
            out,
            rows=args.rows,
            features=args.features,
            classes=args.classes,
            informative=args.informative,
            chunk_rows=args.chunk_rows,
            overwrite=bool(args.keep),
        )
        seconds = time.perf_counter() - t0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    peak_mb = peak_rss_bytes() / 2**20
    result = {
        "rows": meta["rows"],
        "features": meta["features"],
        "chunk_rows": meta["chunk_rows"],
        "seconds": round(seconds, 2),
        "rows_per_s": round(meta["rows"] / seconds),
        "peak_rss_mb": round(peak_mb, 1),
        "csv_bytes": meta["bytes"].get("csv"),
        "parquet_bytes": meta["bytes"].get("parquet"),
        "meets_target": seconds <= 60 and peak_mb <= 1024,
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": meta["versions"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
