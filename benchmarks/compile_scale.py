"""How the compiler scales: `mixc build` of the quickstart with `runs: 1024`, and Snakemake's
dry run of what it wrote.

Prints `figure build_1024_s` (whole `mixc build` process, fresh work directory; target
<= 1 s) and `figure dryrun_1024_s` (`snakemake --dry-run` on the output; target <= 10 s),
medians of a few runs. The work directories live under the repository's own folder:
on some machines creating files under /tmp is an order of magnitude slower.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 3


def timed(cmd: list[str], cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return elapsed


def main() -> None:
    spec_text = (ROOT / "examples/quickstart.mix").read_text()
    spec_text = spec_text.replace("runs: 8", "runs: 1024").replace("hours: 0.25", "hours: 1000")
    spec_text = spec_text.replace('"data/', f'"{ROOT}/examples/data/')
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".bench-") as tmp:
        spec = Path(tmp) / "sweep.mix"
        spec.write_text(spec_text)
        builds, dryruns = [], []
        for i in range(RUNS):
            work = Path(tmp) / f"w{i}"
            builds.append(timed([sys.executable, "-m", "mixc", "build", str(spec), "-o", str(work)]))
            dryruns.append(timed([sys.executable, "-m", "snakemake", "--snakefile", str(work / "Snakefile"),
                                  "--directory", str(work), "--profile", str(work / "profiles/local"),
                                  "--config", "index=jobs/quickstart.index.json", "--dry-run", "--quiet", "all"]))
            jobs = len(json.loads((work / "jobs/quickstart.index.json").read_text())["jobs"])
            shutil.rmtree(work)
    print(f"jobs per build: {jobs}")
    print(f"figure build_1024_s {statistics.median(builds):.3f} s")
    print(f"figure dryrun_1024_s {statistics.median(dryruns):.3f} s")


if __name__ == "__main__":
    main()
