"""Emission: a job graph -> files in the work directory that Snakemake runs.

    <workdir>/Snakefile                  generic rules (compiler/Snakefile, copied verbatim)
    <workdir>/jobs/<experiment>.index.json   the jobs, their order and resources (compiler.resources)
    <workdir>/jobs/<kind>/<name>-<hash8>.json   one job file each: the contract with the runtime
    <workdir>/profiles/{local,slurm}/config.yaml   (local: at most the budget's GPUs in use at once)

No spec string ever lands in code: the Snakefile is the same text for every experiment.
Job files are content-addressed and left alone when already present; the Snakefile,
profiles and index are written atomically (temp file + rename). This module runs nothing.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from mixc.atomic import write_text
from mixc.compiler.budget import Estimate
from mixc.compiler.lower import JobGraph
from mixc.compiler.resources import resources
from mixc.jobfile import SCHEMA, dumps

SNAKEFILE = Path(__file__).with_name("Snakefile")
GREEDY_ABOVE = 300  # jobs; Snakemake's ILP scheduler gets slow on large sweeps


@dataclass(frozen=True)
class Built:
    workdir: Path
    index: Path
    jobs: int


def _yaml(mapping: dict) -> str:
    """A flat YAML mapping (values: str, int, bool, list of str); enough for Snakemake profiles."""
    lines = []
    for key, value in mapping.items():
        if isinstance(value, bool):
            lines.append(f"{key}: {'true' if value else 'false'}")
        elif isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"  - {json.dumps(v)}" for v in value)
        elif isinstance(value, dict):
            lines.append(f"{key}:")
            lines.extend(f"  {k}: {json.dumps(v)}" for k, v in value.items())
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def profiles(n_jobs: int, gpus: int = 0) -> dict[str, dict]:
    """The local and SLURM profiles; `gpus` > 0 caps the GPUs a local run hands out at once."""
    common = {
        "rerun-incomplete": True,
        "rerun-triggers": ["input", "params", "software-env", "code"],
        "printshellcmds": False,
        "show-failed-logs": True,
    }
    if n_jobs > GREEDY_ABOVE:
        common["scheduler"] = "greedy"
    local = {**common, "cores": "all", "retries": 0}
    if gpus:
        local["resources"] = [f"gpu={gpus}"]
    slurm = {
        **common,
        "executor": "slurm",
        "jobs": 200,
        "retries": 2,
        "latency-wait": 60,
        # sacct needs slurmdbd accounting; squeue works everywhere (the plugin falls back to
        # sacct itself when the cluster's MinJobAge is too short for squeue to see ended jobs).
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 20,
        # The proxy rule's jobs (compiler/Snakefile) go out as SLURM job arrays: one sbatch
        # for all the runs of a search that are ready, not one each.
        "slurm-array-jobs": "proxy",
    }
    return {"local": local, "slurm": slurm}


def emit(graph: JobGraph, experiment_name: str, workdir: str | os.PathLike, estimate: Estimate,
         python: str = sys.executable) -> Built:
    """Write the workflow for `graph` into `workdir`; returns where the index is."""
    workdir = Path(workdir)
    ordered = graph.jobs
    index = {
        "schema": SCHEMA,
        "experiment": experiment_name,
        "python": python,
        "targets": graph.targets,
        "jobs": {},
    }
    asks = resources(ordered, estimate)
    for job in ordered:
        ask = asks[job.id]
        index["jobs"][job.id] = {
            "kind": job.kind, "entry": job.entry, "after": list(job.after), "class": job.job_class,
            "threads": ask.threads, "mem_mb": ask.mem_mb, "gpus": ask.gpus, "runtime_min": ask.runtime_min,
        }
        if job.kind == "pack":  # its members' folders: a pack has none of its own
            index["jobs"][job.id]["outputs"] = [m.output for m in job.config.members]
        path = workdir / job.job_file
        text = dumps(job.kind, job.config)
        # Job files are named by their content's hash, so a torn write (a killed build) is
        # simply rewritten next time: no temp-file-and-rename, which costs ~1 ms a file on
        # some filesystems and sweeps write thousands. The index, written last, is atomic.
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    write_text(workdir / "Snakefile", SNAKEFILE.read_text(encoding="utf-8"))
    for name, profile in profiles(len(ordered), estimate.gpus if estimate.gpu else 0).items():
        write_text(workdir / "profiles" / name / "config.yaml", _yaml(profile))
    index_path = workdir / "jobs" / f"{experiment_name}.index.json"
    write_text(index_path, json.dumps(index) + "\n")
    return Built(workdir, index_path, len(ordered))
