"""`mixc plan FILE`: the jobs a spec compiles to, by kind and class, with FLOPs, hours and the
resources each asks for (memory, CPUs, GPUs, time limit), and the experiment's wall time."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("--jobs", action="store_true", help="also list every job with its FLOPs, hours, schedule "
                   "and resources")


HEADER = f"{'jobs':>5} {'FLOPs':>10} {'hours':>9} {'mem MB':>7} {'cpus':>4} {'gpus':>4} {'limit':>6}"


def _cells(flops: float, hours: float, ask) -> str:
    gpu_mem = f" {ask.gpu_mem_mb:>6} MB a GPU" if ask.gpu_mem_mb else ""
    return (f"{flops:>10.3g} {hours:>9.3g} {ask.mem_mb:>7} {ask.threads:>4} {ask.gpus:>4} "
            f"{ask.runtime_min:>4} m{gpu_mem}")


def run(args: argparse.Namespace) -> int:
    from mixc.compiler.budget import estimate, job_tasks
    from mixc.compiler.pipeline import Stop, compiled
    from mixc.compiler.resources import resources
    from mixc.compiler.schedule import schedule

    try:
        c = compiled(args.file, with_budget=False)  # show the numbers even when over budget
    except Stop as stop:
        return stop.status
    est = estimate(c.experiment)
    asks = resources(c.graph.jobs, est)
    when = schedule(job_tasks(c.graph.jobs, est), est.slots)
    side = f"{est.lanes} jobs side by side a device, " if est.lanes > 1 else ""
    print(f"experiment {c.experiment.name}: {len(c.graph)} jobs on {est.gpus} x {est.device} "
          f"(peak {est.peak_flops:.3g} FLOP/s, assumed MFU {est.mfu:.0%}, {side}{est.start_s:g} s start-up a train job)")
    print(f"{'kind':<10} {'class':<6} {HEADER}   (each job)")
    groups: dict[tuple[str, str], list] = {}
    for job in c.graph.jobs:
        groups.setdefault((job.kind, job.job_class), []).append(job)
    for (kind, job_class), group in groups.items():
        top = max(group, key=lambda j: (asks[j.id].mem_mb, j.flops))
        hours = est.seconds(kind, job_class, top.flops) / 3600
        print(f"{kind:<10} {job_class:<6} {len(group):>5} {_cells(top.flops, hours, asks[top.id])}")
    if args.jobs:
        print(f"\n{'job':<48} {'start h':>8} {'end h':>8} {HEADER[6:]}")
        for job in c.graph.jobs:
            hours = est.seconds(job.kind, job.job_class, job.flops) / 3600
            print(f"{job.id:<48} {when.start[job.id] / 3600:>8.3g} {when.end[job.id] / 3600:>8.3g} "
                  f"{_cells(job.flops, hours, asks[job.id])}")
        print()
    total = sum(j.flops for j in c.graph.jobs)
    job_hours = sum(est.seconds(j.kind, j.job_class, j.flops) for j in c.graph.jobs) / 3600
    wall = when.seconds / 3600
    print(f"{'total':<17} {len(c.graph):>5} {total:>10.3g} {job_hours:>9.3g}   (hours: the jobs' own, summed)")
    print(f"wall time: {wall:.3g} h on {est.gpus} x {est.device} (jobs side by side where they can be)")
    b = c.experiment.budget
    if b is not None:
        verdict = "within" if wall <= b.hours else "OVER"
        print(f"budget: {b.hours:g} h ({verdict})")
    return 0
