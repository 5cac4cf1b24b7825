"""`mixc run --profile slurm` on a real one-node SLURM (tests/cluster/start_slurm.sh): the jobs go
through sbatch, the compiler's own jobs run where Snakemake runs, a train job cancelled by SLURM
mid-run is retried and resumes from its checkpoint, and the results equal a local run's; the
proxies of a search go out as one job array; a job that keeps failing stops the run with its
log named, and a rerun continues from the finished jobs.

Skipped unless the test cluster start_slurm.sh brings up answers (`sinfo`, ClusterName
mixctest): `make test` never submits to a real cluster. The CI stage, tests/cluster/run_stage.sh,
starts the cluster, runs this file and stops it. Prints `figure sbatch_calls_tiny N`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.compiler.conftest import write_data, write_spec

CLUSTER = "mixctest"
# The final run is long enough (~780 steps, seconds) to be caught between its first checkpoint
# (a quarter of the way) and its end; everything else stays tiny.
FINAL_TOKENS = "100k"
# Status checks every few seconds instead of the profile's 20 s: the jobs here take seconds.
FAST_CHECKS = ["--slurm-init-seconds-before-status-checks", "2"]
# Snakemake's line for each sbatch call: one job (its SLURM log names it), or an array of them.
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: \S+/slurm_logs/rule_\w+/(\S+)/\d+\.log\)"
                       r"|Submitted array job with Snakemake IDs \S+ and SLURM job ID (\d+)\.")


def cluster() -> str | None:
    """Why the test cluster cannot be used, or None when it answers."""
    if shutil.which("sinfo") is None or shutil.which("scancel") is None:
        return "no SLURM client tools (tests/cluster/start_slurm.sh brings up a test cluster)"
    try:
        up = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
        config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "sinfo does not answer"
    if up.returncode != 0:
        return "sinfo does not answer (tests/cluster/start_slurm.sh brings up a test cluster)"
    name = re.search(r"^ClusterName\s*=\s*(\S+)", config.stdout, re.M)
    if name is None or name.group(1) != CLUSTER:
        return f"the SLURM that answers is not the test cluster {CLUSTER} (this test submits only there)"
    return None


# The CI stage sets MIXC_SLURM_REQUIRED=1: there a cluster that does not answer is a failure, not a skip.
WHY_NOT = cluster()
if WHY_NOT is not None and os.environ.get("MIXC_SLURM_REQUIRED") == "1":
    raise RuntimeError(f"MIXC_SLURM_REQUIRED=1 but {WHY_NOT}")
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))


def numbers(work: Path) -> list[dict]:
    """Every run's numbers in the report's summary, all but how long it took."""
    summary = json.loads(next((work / "report").glob("*/summary.json")).read_text())
    return [{k: v for k, v in run.items() if k not in ("tokens_per_s", "wall_time_s")} for run in summary["runs"]]


def table(out: str) -> str:
    """The result table `mixc run` printed, without the lines naming the work directory and the report's path."""
    return "\n".join(line for line in out.splitlines() if not line.startswith(("report: ", "work directory: ")))


def index(work: Path) -> dict:
    return json.loads(next((work / "jobs").glob("*.index.json")).read_text())["jobs"]


def sbatch_calls(text: str) -> tuple[int, dict[str, list[int]]]:
    """How many times Snakemake's log says it called sbatch, and the SLURM job ids of each job
    submitted on its own (by job id, in order)."""
    calls, alone = 0, {}
    for slurm_id, name, array_id in SUBMITTED.findall(text):
        calls += 1
        if slurm_id:
            alone.setdefault(name, []).append(int(slurm_id))
    return calls, alone


def slurm_logs(work: Path, job_id: str) -> list[Path]:
    """The SLURM output files of one job so far, one per sbatch attempt, oldest first (the SLURM
    plugin deletes those of jobs that succeeded when the run ends)."""
    folder = next((work / ".snakemake" / "slurm_logs").glob(f"rule_*/{job_id.replace('/', '_')}"), None)
    return sorted(folder.glob("*.log"), key=lambda p: int(p.stem)) if folder else []


def checkpointed(work: Path, job_id: str) -> bool:
    """Whether train job `job_id` has written a checkpoint and not yet finished."""
    out = work / job_id
    return not (out / "metrics.json").exists() and bool(list((out / "checkpoints").glob("step-*")))


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("spec")
    write_data(folder)
    return write_spec(folder, final_tokens=FINAL_TOKENS)


@dataclass(frozen=True)
class Ran:
    """A local run and a SLURM run of one spec, the SLURM run with its final train job scancel'd once."""

    local: Path
    remote: Path
    local_table: str
    table: str
    log: str  # mixc's and Snakemake's stderr of the SLURM run
    jobs: dict
    final: str
    cancelled: int


@pytest.fixture(scope="module")
def ran(spec: Path, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    tmp = tmp_path_factory.mktemp("runs")
    local, remote, log, out = tmp / "local", tmp / "slurm", tmp / "slurm.log", tmp / "slurm.out"
    done = subprocess.run([sys.executable, "-m", "mixc", "run", str(spec), "-o", str(local), "--cores", "2"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    jobs = index_of_build(spec, remote)
    final = next(j for j, info in jobs.items() if info["kind"] == "train" and info["class"] == "final")
    with out.open("w") as stdout, log.open("w") as stderr:  # files, not pipes: nothing can block on them
        # -v: Snakemake's own output (its sbatch calls, the cancelled job) on stderr, as the checks read it
        proc = subprocess.Popen([sys.executable, "-m", "mixc", "run", str(spec), "-o", str(remote), "--profile",
                                 "slurm", "-v", "--", *FAST_CHECKS], stdout=stdout, stderr=stderr)
    try:
        cancelled = cancel_between_checkpoints(remote, final, proc, log)
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.terminate()  # mixc run stops Snakemake and cancels its jobs
            proc.wait(timeout=180)
    assert proc.returncode == 0, log.read_text()[-4000:]
    return Ran(local, remote, table(done.stdout), table(out.read_text()), log.read_text(), jobs, final, cancelled)


def slurm_job_of(work: Path, job_id: str) -> str:
    """The SLURM job (or array task) a job's log says it ran in (runtime.launch prints it)."""
    found = re.search(r"^slurm: job (\d+(?:_\d+)?) on ", (work / "logs" / f"{job_id}.log").read_text(), re.M)
    assert found, f"{job_id}'s log names no SLURM job"
    return found.group(1)


def test_slurm_run_with_a_cancelled_job_equals_the_local_run(ran):
    # Every runtime job ran under SLURM; the compiler's jobs (design, fit, solve, report) did not.
    compiler = {j for j, info in ran.jobs.items() if info["entry"] == "compiler.jobs"}
    under = {j: slurm_job_of(ran.remote, j) for j in ran.jobs if j not in compiler}
    assert all(not (ran.remote / "logs" / f"{j}.log").read_text().startswith("slurm:") for j in compiler)
    # The search's packs of proxies and the baselines, ready together, went out as one job array;
    # the rest one sbatch each.
    proxies = [j for j, info in ran.jobs.items() if info["kind"] in ("train", "pack") and info["class"] == "proxy"
               and not any(a.startswith("solve/") for a in info["after"])]  # packs and baselines, not chosen
    assert sum(1 for j in proxies if j.startswith("pack/")) == 2
    arrays = {under[j].split("_")[0] for j in proxies}
    assert len(arrays) == 1 and all("_" in under[j] for j in proxies), {j: under[j] for j in proxies}
    calls, alone = sbatch_calls(ran.log)
    assert calls == len(under) - len(proxies) + 1 + 1  # one each, one array, and the final run's retry
    print(f"\nfigure sbatch_calls_tiny {calls}")
    print(f"figure jobs_tiny {len(ran.jobs)}")

    # The cancelled final run: a second sbatch job, which resumed from the checkpoint.
    attempts = alone[ran.final.replace("/", "_")]
    assert attempts[0] == ran.cancelled and len(attempts) == 2 and under[ran.final] == str(attempts[1]), attempts
    train_log = (ran.remote / "logs" / f"{ran.final}.log").read_text()
    assert re.search(r"resuming from \S+step-\d+ \(step [1-9]\d* of \d+\)", train_log), train_log[-2000:]
    assert "CANCELLED" in ran.log

    assert numbers(ran.remote) == numbers(ran.local)  # same seeds, same numbers, resumed or not
    assert ran.table == ran.local_table


def test_a_job_that_keeps_failing_stops_the_run_and_a_rerun_continues(ran, spec, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(ran.remote, work, symlinks=True)  # a finished experiment; then a new final run
    longer = write_spec(spec.parent, "longer_final.mix", final_tokens="20k")
    jobs = index_of_build(longer, work)
    final = next(j for j, info in jobs.items() if info["kind"] == "train" and info["class"] == "final")
    (work / final).write_text("in the way\n")  # a file where its output folder goes: every attempt fails
    markers = {p: p.stat().st_mtime_ns for p in (work / "done").rglob("*") if p.is_file()}
    command = [sys.executable, "-m", "mixc", "run", str(longer), "-o", str(work), "--profile", "slurm", "-v", "--",
               *FAST_CHECKS]  # -v: Snakemake's output on stderr, where its sbatch calls are counted

    failed = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert failed.returncode == 1, failed.stderr[-4000:]
    log = work / "logs" / f"{final}.log"
    assert f"mixc: job {final} failed; its log: {log}\n  error: train job jobs/{final}.json: Not a directory" \
        in failed.stderr, failed.stderr[-4000:]
    calls, alone = sbatch_calls(failed.stderr)
    assert calls == 3 and len(alone[final.replace("/", "_")]) == 3  # the profile's retries: 2
    assert "Traceback" not in log.read_text()

    (work / final).unlink()
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert sbatch_calls(rerun.stderr)[0] == 1  # the final run alone: nothing that had finished ran again
    assert {p: p.stat().st_mtime_ns for p in markers} == markers
    assert (work / final / "metrics.json").is_file()


def index_of_build(spec: Path, work: Path) -> dict:
    built = subprocess.run([sys.executable, "-m", "mixc", "build", str(spec), "-o", str(work)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    return index(work)


def cancel_between_checkpoints(work: Path, job_id: str, proc: subprocess.Popen, log: Path) -> int:
    """Wait until `job_id` runs under SLURM with a checkpoint written and unfinished, then scancel
    its SLURM job; returns that job's id."""
    deadline = time.monotonic() + 600
    while not (slurm_logs(work, job_id) and checkpointed(work, job_id)):
        assert proc.poll() is None, f"the run ended before {job_id} was caught:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{job_id} wrote no checkpoint within 600 s"
        time.sleep(0.1)
    slurm_id = int(slurm_logs(work, job_id)[-1].stem)
    subprocess.run(["scancel", str(slurm_id)], check=True, timeout=30)
    time.sleep(1)
    assert not (work / job_id / "metrics.json").exists(), f"{job_id} finished before scancel reached it"
    return slurm_id
