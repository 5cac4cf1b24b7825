"""One shot against rounds, at the same proxy compute, on ../shared/corpus (six domains), by `mixc run`.

Two experiments alike but for the search, each written as a spec and run whole by `mixc run`
(tokenize, proxies, fit, solve, final runs, report):
  oneshot  `search regmix { runs: 16 }`: 16 proxies on one Dirichlet design
  rounds   `search regmix { runs: 4, rounds: 4, propose: PROPOSE }`: a first design of 4, then
           three rounds of 4 proposed from every run before them (compiler.mixture.rounds)
Both fit the same law (--law; loglinear by default, which 16 runs can cross-validate) on their 16 proxies, solve
for the objective, loss(literature) + loss(code) as the quickstart has it, and train the final
recipe on the solution and on uniform, `replicates` seeds each. The proxies are the same recipe,
so the two searches cost the same.

Figures (nats per token, summed over the two domains; mean and sd over the replicates of the
final runs, and over --seeds experiment seeds when more than one):
  objective_<search>, objective_sd_<search>       the chosen mixture's measured objective
  uniform_<search>                                 uniform's, trained beside it (a yardstick
                                                   for the seeds' own spread)
  gain_<search>                                    uniform - chosen, paired by replicate
  rounds_minus_oneshot, rounds_minus_oneshot_sd    per experiment seed, the rounds search's mean
                                                   objective minus one shot's (negative: rounds
                                                   better), mean and sd over the seeds
  rounds_wins                                      the seeds where rounds measured lower
  wall_<search>_seed<k>_s                          the whole `mixc run` of one experiment seed
The rounds search is reported as measured, also where it does not beat one shot. About 10
minutes a search on two cores. Run:
    python benchmarks/rounds_corpus.py [--propose ei] [--seeds 1] [--replicates 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from online import CORPUS, DOMAINS

SEARCHES = {"oneshot": "runs: 16", "rounds": "runs: 4, rounds: 4, propose: {propose}"}
SPEC = """\
experiment rounds_corpus {{
  seed = {seed}
  tokenizer = byte
{sources}
  holdout = 5%
  replicates = {replicates}

  model proxy = dense(layers: 1, d_model: 48, heads: 4, seq_len: 64)
  model large = dense(layers: 2, d_model: 64, heads: 4, seq_len: 64)
  train proxy_run {{ model: proxy, tokens: {proxy_tokens}, batch: 16, lr: 3e-3 }}
  train final_run {{ model: large, tokens: {final_tokens}, batch: 16, lr: 3e-3, schedule: cosine }}

  search regmix {{ {search}, train: proxy_run, law: {law} }}

  minimize loss(literature) + loss(code)

  final final_run
  baselines uniform
  validate uniform

  budget {{ device: cpu, hours: 2 }}
}}
"""


def spec(corpus: Path, search: str, seed: int, replicates: int, proxy_tokens: str, final_tokens: str,
         law: str = "loglinear") -> str:
    sources = "\n".join(f'  source {d} = text("{corpus / d}/*.txt.gz")' for d in DOMAINS)
    return SPEC.format(seed=seed, sources=sources, replicates=replicates, search=search,
                       proxy_tokens=proxy_tokens, final_tokens=final_tokens, law=law)


def run(work: Path, text: str) -> tuple[dict, float]:
    """`mixc run` on the spec in a fresh folder; its summary.json and the seconds it took."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "experiment.mix"
    path.write_text(text)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mixc", "run", str(path), "-o", str(work / "out")],
                          capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mixc run {path} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    found = sorted((work / "out").rglob("summary.json"))
    if not found:
        raise SystemExit(f"mixc run {path} finished without a summary.json under {work / 'out'}")
    return json.loads(found[0].read_text()), took


def final_objectives(summary: dict, role: str) -> dict[int, float]:
    """Measured objective by replicate of the target-scale runs of one role (chosen, baseline)."""
    return {r["replicate"]: r["objective"] for r in summary["runs"]
            if r["scale"] == "target" and r["role"] == role and r["objective"] is not None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--propose", choices=("climb", "ei", "ucb"), default="ei")
    parser.add_argument("--seeds", type=int, default=1, help="experiment seeds (designs, proposals, replicates)")
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--proxy-tokens", default="60k")
    parser.add_argument("--final-tokens", default="240k")
    parser.add_argument("--law", default="loglinear", help="the law both searches fit (loglinear, gp, auto, ...)")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mixc-rounds-"))
    chosen: dict[str, list[float]] = {k: [] for k in SEARCHES}
    uniform: dict[str, list[float]] = {k: [] for k in SEARCHES}
    by_seed: dict[str, list[float]] = {k: [] for k in SEARCHES}  # each seed's mean chosen objective
    for seed in range(args.seeds):
        for name, search in SEARCHES.items():
            text = spec(args.corpus.resolve(), search.format(propose=args.propose), seed, args.replicates,
                        args.proxy_tokens, args.final_tokens, args.law)
            summary, took = run(work / f"{name}_seed{seed}", text)
            mine, base = final_objectives(summary, "chosen"), final_objectives(summary, "baseline")
            paired = sorted(set(mine) & set(base))
            chosen[name] += [mine[r] for r in paired]
            uniform[name] += [base[r] for r in paired]
            by_seed[name].append(float(np.mean([mine[r] for r in paired])))
            weights = summary["solution"]["mixture"] if summary.get("solution") else {}
            print(f"{name} seed {seed}: chosen {', '.join(f'{k} {v:.3f}' for k, v in dict(weights).items())}; "
                  f"objective {np.mean([mine[r] for r in paired]):.4f} against uniform "
                  f"{np.mean([base[r] for r in paired]):.4f} over {len(paired)} replicates ({took:.0f} s)")
            print(f"figure wall_{name}_seed{seed}_s {took:.0f} s")
    for name in SEARCHES:
        c, u = np.array(chosen[name]), np.array(uniform[name])
        print(f"figure objective_{name} {c.mean():.4f} nats")
        print(f"figure objective_sd_{name} {c.std(ddof=1) if len(c) > 1 else float('nan'):.4f} nats")
        print(f"figure uniform_{name} {u.mean():.4f} nats")
        print(f"figure gain_{name} {(u - c).mean():.4f} nats")
    diff = np.array(by_seed["rounds"]) - np.array(by_seed["oneshot"])
    print(f"figure rounds_minus_oneshot {diff.mean():.4f} nats")
    print(f"figure rounds_minus_oneshot_sd {diff.std(ddof=1) if len(diff) > 1 else float('nan'):.4f} nats")
    print(f"figure rounds_wins {int((diff < 0).sum())} of {len(diff)} seeds")
    print(f"work: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
