"""How fast `mixc check` is as a whole process: what a pre-commit hook or CI step pays.

Prints `figure check_quickstart_s` (median wall time of `mixc check examples/quickstart.mix`,
target <= 0.3 s on 2 cores) and `figure check_1000_lines_s` (a generated 1,000-line spec,
target <= 1 s), plus the bare interpreter start-up measured in the same run for context.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 15


def median_seconds(cmd: list[str], expect: int = 0) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - start)
        if r.returncode != expect:
            sys.exit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[-500:]}")
    return statistics.median(times)


def generated_spec(lines: int) -> str:
    """A realistic large spec: many sources, models and recipes, a long objective and constraints."""
    n = max(1, (lines - 12) // 8)
    out = ["# generated", "experiment big {", "  seed = 1", "  tokenizer = bpe(vocab: 32k)", "  holdout = 1%"]
    for i in range(n):
        out.append(f'  source s{i} = text("data/s{i}/*.txt.gz")')
    for i in range(n):
        out.append(f"  model m{i} = moe(layers: {2 + i % 6}, d_model: 256, heads: 8, experts: 8, top_k: 2, seq_len: 512)")
    for i in range(n):
        out.append(f"  train r{i} {{ model: m{i}, tokens: {1 + i}M, batch: 32, lr: 1e-3, schedule: cosine }}")
    out.append("  search regmix { runs: 512, train: r0, law: loglinear }")
    for i in range(1, n):
        out.append(f"  # recipe r{i} is evaluated in a later experiment")
    out.append("  minimize " + " + ".join(f"loss(s{i})" for i in range(min(n, 50))))
    out.append("  subject to {")
    for i in range(n):
        out.append(f"    weight(s{i}) <= {min(100, 5 + i % 40)}%")
    for i in range(n):
        out.append(f"    epochs(s{i}) <= {1 + i % 4}")
    out.append("  }")
    for i in range(n, n + (lines - len(out) - 3)):
        out.append(f"  # padding {i}")
    out.append("  final r0")
    out.append("  budget { device: h100, hours: 10000, gpus: 64 }")
    out.append("}")
    return "\n".join(out) + "\n"


def main() -> None:
    mixc = [sys.executable, "-m", "mixc"]
    subprocess.run(mixc + ["check", "examples/quickstart.mix"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # warm Lark's cache
    python_s = median_seconds([sys.executable, "-c", "pass"])
    quick_s = median_seconds(mixc + ["check", "examples/quickstart.mix"])
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.mix"
        big.write_text(generated_spec(1000))
        n_lines = len(big.read_text().splitlines())
        # Unused recipes are warnings, not errors: exit 0.
        big_s = median_seconds(mixc + ["check", str(big)])
    print(f"python start-up alone: {python_s:.3f} s (median of {RUNS})")
    print(f"generated spec: {n_lines} lines")
    print(f"figure check_quickstart_s {quick_s:.3f} s")
    print(f"figure check_1000_lines_s {big_s:.3f} s")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "0")
    main()
