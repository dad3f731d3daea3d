"""``python -m tunefleet.bench.child JOB OUT``: run one system's sweep in a fresh process."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path


def main(argv: list[str]) -> int:
    from tunefleet.bench.systems import Job, run_job

    job = Job.from_json(Path(argv[0]).read_text())
    outcome = run_job(job)
    tmp = Path(argv[1]).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(outcome)))
    tmp.replace(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
