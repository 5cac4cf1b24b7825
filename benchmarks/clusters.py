"""Discovered domains: how well each embedding of `compiler/clusters.py` finds six known domains.

    python benchmarks/clusters.py [--corpus ../shared/corpus] [--sample 10000] [--seeds 3]

The six labelled domains of the corpus (its folders; examples/data when ../shared is absent)
are pooled, their labels hidden, and clustered with k = 6 as the cluster job does it: the
embedding and k-means fitted on a sample of `--sample` documents, then every document
assigned. Each embedding runs in a process of its own, one per seed.

Figures, per embedding E:
  cluster_ari_E          adjusted Rand index of the clusters against the true domains (1: the
                         domains exactly, 0: chance), mean over the seeds
  cluster_ari_sd_E       its standard deviation over the seeds
  cluster_seconds_E      fit and assignment of every document, wall-clock seconds (median over
                         the seeds; reading the files not counted)
  cluster_peak_rss_mb_E  that process's peak resident memory, MiB (the most over the seeds)
  cluster_documents      the documents pooled

The default embedding (`compiler.clusters.DEFAULT_EMBEDDING`) is the one these figures favour.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = REPO.parent / "shared" / "corpus"
EXAMPLES = REPO / "examples" / "data"


def figure(name: str, value: float, unit: str = "") -> None:
    print(f"figure {name} {value:.4g} {unit}".rstrip(), flush=True)


def labelled(corpus: Path) -> tuple[list[str], list[str]]:
    """Every document of the corpus (blank-line paragraphs) and its domain (its folder)."""
    from mixc.jobs import SourceSpec
    from mixc.runtime.corpus_io import iter_documents

    texts, labels = [], []
    for folder in sorted(p for p in corpus.iterdir() if p.is_dir()):
        spec = SourceSpec(folder.name, "text", None, (str(folder / "*.txt.gz"),), "paragraph")
        for doc in iter_documents(spec):
            texts.append(doc)
            labels.append(folder.name)
    return texts, labels


def one(corpus: Path, embedding: str, sample: int, seed: int) -> dict:
    """In the child: cluster the pooled corpus as the job does; ARI and seconds."""
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from mixc.compiler.clusters import fit

    texts, labels = labelled(corpus)
    domains = len(set(labels))
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(texts), size=min(sample, len(texts)), replace=False).tolist())
    start = time.perf_counter()
    clustering = fit([texts[i] for i in picked], domains, seed, embedding)
    found = clustering.assign(texts)
    seconds = time.perf_counter() - start
    return {"ari": float(adjusted_rand_score(labels, found)), "seconds": seconds, "documents": len(texts),
            "domains": domains}


def measure(corpus: Path, embedding: str, sample: int, seed: int) -> dict:
    """`one` in a fresh process, with its peak RSS."""
    cmd = [sys.executable, __file__, "--corpus", str(corpus), "--sample", str(sample), "--child", embedding,
           "--seed", str(seed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{embedding} (seed {seed}) failed: exit {status}")
    return {**json.loads(out.strip().splitlines()[-1]), "rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    from mixc.compiler.clusters import EMBEDDINGS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=SHARED if SHARED.is_dir() else EXAMPLES)
    ap.add_argument("--sample", type=int, default=10000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", choices=EMBEDDINGS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(args.corpus, args.child, args.sample, args.seed)))
        return
    print(f"corpus {args.corpus}, sample {args.sample}, {args.seeds} seeds", flush=True)
    for embedding in EMBEDDINGS:
        runs = [measure(args.corpus, embedding, args.sample, seed) for seed in range(args.seeds)]
        aris = [r["ari"] for r in runs]
        figure(f"cluster_ari_{embedding}", statistics.mean(aris))
        figure(f"cluster_ari_sd_{embedding}", statistics.stdev(aris) if len(aris) > 1 else 0.0)
        figure(f"cluster_seconds_{embedding}", statistics.median(r["seconds"] for r in runs), "s")
        figure(f"cluster_peak_rss_mb_{embedding}", max(r["rss_mb"] for r in runs), "MiB")
    figure("cluster_documents", runs[0]["documents"])


if __name__ == "__main__":
    main()
