"""Data-path speed: BPE tokenize throughput, the tokenize job's peak memory, sampler headroom.

    python benchmarks/data_speed.py [--corpus ../shared/corpus] [--mb 100] [--trials 3]

Figures:
  bpe_tokenize_mb_s      the whole tokenize job (`python -m mixc.runtime`, a subprocess) on a
                         --mb input with a 4096-id BPE tokenizer: input MB (1e6 bytes) per
                         wall-clock second, process start, hashing and zarr writes included;
                         median of --trials runs
  bpe_tokenize_mb_per_cpu_s  the same per CPU-second the job used (context on a shared machine)
  tokenize_peak_rss_mb   that job's peak resident memory (from wait4's rusage), MiB, the most of any trial
  bpe_tokenize_*_hf      the same three with `MIXC_BPE_ENCODER=hf` (Hugging Face `tokenizers`
                         encodes), trials alternating with the default ones; the stores of the
                         two must hold the same tokens (checked)
  bpe_tokenize_fast_over_hf  median MB/s of the default job over that of the `hf` one
  sampler_over_train     sampler tokens/s for the north-star proxy batch (16 x 128, six
                         sources) over the tokens/s of the north-star proxy's train step
                         (forward, backward, AdamW) on those batches, in the same run.
Reads the shared corpus when it is there (else examples/data) and writes only to a temp dir.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mixc.runtime.sampler import MixtureSampler  # noqa: E402
from mixc.runtime.tokenizer import encode_batch, load  # noqa: E402

DOMAINS = ["literature", "code", "legal", "dictionary", "email", "docs"]


def figure(name: str, value: float, unit: str = "") -> None:
    print(f"figure {name} {value:.4g} {unit}".rstrip(), flush=True)


def run_job(folder: Path, name: str, job: dict, env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Run `python -m mixc.runtime` on a job; return (wall seconds, peak RSS in MiB, CPU seconds)."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"schema": 1, **job}))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mixc.runtime", str(path)], cwd=REPO,
                            env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} job failed")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # Linux reports KiB


def domain_files(corpus: Path | None) -> dict[str, list[Path]]:
    if corpus is None:
        return {d: sorted((REPO / "examples/data" / d).glob("*.txt.gz")) for d in DOMAINS}
    return {d.name: sorted(d.glob("*.txt.gz")) for d in sorted(corpus.iterdir()) if d.is_dir()}


def write_input(files: list[Path], out: Path, size: int) -> None:
    """About `size` bytes of whole documents, cycling through the corpus files."""
    written = 0
    with out.open("wb") as f:
        while True:
            for file in files:
                data = gzip.decompress(file.read_bytes()).rstrip(b"\n") + b"\n\n"
                if written + len(data) >= size:
                    f.write(data[: data.rfind(b"\n\n", 0, size - written) + 2])
                    return
                f.write(data)
                written += len(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--trials", type=int, default=3, help="tokenize jobs per encoder, alternating")
    args = parser.parse_args()
    corpus = args.corpus if (args.corpus / "MANIFEST.tsv").is_file() else None
    print(f"corpus: {corpus or 'examples/data (shared corpus not found)'}; cpus: {os.cpu_count()}")
    domains = domain_files(corpus)
    sources = [{"name": d, "format": "text", "field": None, "files": [str(f) for f in fs], "unit": None}
               for d, fs in domains.items()]

    with tempfile.TemporaryDirectory(prefix="mixc-bench-") as tmp_name:
        tmp = Path(tmp_name)
        wall, rss, _ = run_job(tmp, "tokenizer", {"kind": "tokenizer", "type": "bpe", "vocab": 4096, "path": None,
                                               "sources": sources, "sample_bytes": 12_000_000, "seed": 0, "holdout": 0.0,
                                               "output": str(tmp / "tok")})
        print(f"bpe training (4096 ids, 12 MB sample over {len(sources)} sources): {wall:.1f} s, peak RSS {rss:.0f} MiB")

        big = tmp / "input.txt"
        write_input([f for fs in domains.values() for f in fs], big, int(args.mb * 1e6))
        size_mb = big.stat().st_size / 1e6
        tokenize_trials(tmp, size_mb, args.trials)

        sample = big.read_bytes()[:10_000_000].decode("utf-8", "ignore").split("\n\n")
        rates = {}
        for name, tok in [("hf", load(tmp / "tok", fast=False)), ("fast", load(tmp / "tok"))]:
            start = time.process_time()
            n_tokens = sum(len(ids) for ids in encode_batch(tok, sample))
            rates[name] = 10 / (time.process_time() - start)
        print(f"encode only (in process, 10 MB, {n_tokens / 10e6:.3f} tokens/byte): tokenizers {rates['hf']:.2f} "
              f"MB/CPU-s, runtime.fast_bpe {rates['fast']:.2f} MB/CPU-s (one thread)")

        for d in DOMAINS:  # the six example domains, as the north-star experiment tokenizes them
            files = [str(f) for f in sorted((REPO / "examples/data" / d).glob("*.txt.gz"))]
            run_job(tmp, f"tok-{d}", {"kind": "tokenize", "tokenizer": str(tmp / "tok"), "store": str(tmp / "ex"),
                                      "source": {"name": d, "format": "text", "field": None, "files": files,
                                                 "unit": None},
                                      "holdout": 0.02, "seed": 0})
        start = time.perf_counter()
        sampler = MixtureSampler(tmp / "ex", DOMAINS, [1 / 6] * 6, seq_len=128, batch_size=16, seed=0)
        print(f"sampler start-up (six example sources, read whole): {time.perf_counter() - start:.2f} s")
        tokens_per_s = sampler_rate(sampler)
        train_per_s = train_step_rate(sampler, vocab=load(tmp / "tok").vocab_size)
        print(f"sampler: {tokens_per_s:,.0f} tokens/s; the north-star proxy's train step on its batches: "
              f"{train_per_s:,.0f} tokens/s (same run)")
        figure("sampler_over_train", tokens_per_s / train_per_s, "x")

        rotating = MixtureSampler(tmp / "store-fast-0", ["big"], [1.0], seq_len=128, batch_size=16, seed=0,
                                  resident_tokens=4 << 20)
        rate = sampler_rate(rotating)
        print(f"sampler on the {size_mb:.0f} MB source with 4M resident tokens (chunks swapped every "
              f"{rotating.rotate_steps} steps): {rate:,.0f} tokens/s = {rate / train_per_s:.0f} x the train step")
    return 0


def tokenize_trials(tmp: Path, size_mb: float, trials: int) -> None:
    """The tokenize job on `tmp/input.txt`, `trials` times with each encoder, alternating; figures
    from medians (the spread printed). The first store of each encoder is kept to compare them."""
    results: dict[str, list[tuple[float, float, float]]] = {"hf": [], "fast": []}
    for trial in range(trials):
        for encoder in (("hf", "fast") if trial % 2 == 0 else ("fast", "hf")):
            store = tmp / f"store-{encoder}-{trial}"
            load_before = os.getloadavg()[0]
            wall, rss, cpu = run_job(tmp, "tokenize", {"kind": "tokenize", "tokenizer": str(tmp / "tok"),
                                                       "source": {"name": "big", "format": "text", "field": None,
                                                                  "files": [str(tmp / "input.txt")], "unit": None},
                                                       "store": str(store), "holdout": 0.02, "seed": 0},
                                     env={"MIXC_BPE_ENCODER": "hf" if encoder == "hf" else "auto"})
            results[encoder].append((size_mb / wall, size_mb / cpu, rss))
            print(f"tokenize job ({encoder}), trial {trial}: {size_mb:.1f} MB in {wall:.1f} s wall, {cpu:.1f} s CPU, "
                  f"peak RSS {rss:.0f} MiB; load average before/after {load_before:.1f}/{os.getloadavg()[0]:.1f} "
                  f"on {os.cpu_count()} cores")
            if trial:
                shutil.rmtree(store)
    same = all(np.array_equal(zarr.open_array(str(tmp / f"store-hf-0/big/{split}/{name}"), mode="r")[:],
                              zarr.open_array(str(tmp / f"store-fast-0/big/{split}/{name}"), mode="r")[:])
               for split in ("train", "valid") for name in ("tokens", "doc_offsets"))
    print(f"stores of the two encoders hold the same tokens and documents: {same}")
    if not same:
        raise SystemExit("the fast encoder wrote different tokens")
    for encoder, suffix in (("fast", ""), ("hf", "_hf")):
        speed, per_cpu, rss = zip(*results[encoder])
        print(f"{encoder}: MB/s median {statistics.median(speed):.2f} (min {min(speed):.2f}, max {max(speed):.2f}); "
              f"MB/CPU-s median {statistics.median(per_cpu):.2f} (min {min(per_cpu):.2f}, max {max(per_cpu):.2f})")
        figure(f"bpe_tokenize_mb_s{suffix}", statistics.median(speed), "MB/s")
        # what 2 uncontended cores would give if the job kept both busy: context when the machine is shared
        figure(f"bpe_tokenize_mb_per_cpu_s{suffix}", statistics.median(per_cpu), "MB/CPU-s")
        figure(f"tokenize_peak_rss_mb{suffix}", max(rss), "MiB")
    figure("bpe_tokenize_fast_over_hf", statistics.median(r[0] for r in results["fast"])
           / statistics.median(r[0] for r in results["hf"]), "x")


def train_step_rate(sampler: MixtureSampler, vocab: int, steps: int = 20) -> float:
    """Tokens/s of the north-star proxy (dense, 2 layers, d_model 64, 4 heads, seq 128, batch 16)
    training on this sampler's batches: forward, backward and AdamW, as the train job does."""
    import torch

    from mixc.runtime.models import ModelConfig
    from mixc.shape import ModelShape

    model = ModelConfig(ModelShape("dense", 2, 64, 4, vocab, 128, tie_embeddings=True)).build()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    start = 0.0
    for step in range(steps + 3):
        if step == 3:  # warm-up steps excluded
            start = time.perf_counter()
        batch = torch.from_numpy(sampler.batch(step))
        model(batch[:, :-1], batch[:, 1:]).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * sampler.batch_size * sampler.seq_len / (time.perf_counter() - start)


def sampler_rate(sampler: MixtureSampler, steps: int = 3000) -> float:
    sampler.batch(0)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        sampler.batch(step)
    return steps * sampler.batch_size * sampler.seq_len / (time.perf_counter() - start)


if __name__ == "__main__":
    sys.exit(main())
