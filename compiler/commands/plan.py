"""`mixc plan FILE`: the jobs a spec compiles to, by kind, with FLOPs and hours, and totals."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("--jobs", action="store_true", help="also list every job with its FLOPs and hours")


def run(args: argparse.Namespace) -> int:
    from mixc.compiler.budget import estimate
    from mixc.compiler.pipeline import Stop, compiled

    try:
        c = compiled(args.file, with_budget=False)  # show the numbers even when over budget
    except Stop as stop:
        return stop.status
    est = estimate(c.experiment)
    by_kind: dict[str, list] = {}
    for job in c.graph.jobs:
        by_kind.setdefault(job.kind, []).append(job)
    print(f"experiment {c.experiment.name}: {len(c.graph)} jobs on {est.gpus} x {est.device} "
          f"(peak {est.peak_flops:.3g} FLOP/s, assumed MFU {est.mfu:.0%})")
    print(f"{'kind':<10} {'jobs':>5} {'FLOPs':>10} {'hours':>9}")
    for kind, group in by_kind.items():
        flops = sum(j.flops for j in group)
        print(f"{kind:<10} {len(group):>5} {flops:>10.3g} {est.hours_for(flops):>9.3g}")
    if args.jobs:
        print()
        for job in c.graph.jobs:
            print(f"{job.id:<48} {job.flops:>10.3g} {est.hours_for(job.flops):>9.3g}")
        print()
    total = sum(j.flops for j in c.graph.jobs)
    print(f"{'total':<10} {len(c.graph):>5} {total:>10.3g} {est.hours_for(total):>9.3g}")
    b = c.experiment.budget
    if b is not None:
        verdict = "within" if est.hours_for(total) <= b.hours else "OVER"
        print(f"budget: {b.hours:g} h ({verdict})")
    return 0
