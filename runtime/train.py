"""Kind `train`: train one model on one mixture, resumably, and leave its results in its own directory.

The loop: AdamW, linear warmup then constant or cosine decay, gradient clipping,
gradient accumulation over micro-batches, bf16 autocast and torch.compile on CUDA
(compile optional on CPU, where it costs tens of seconds), DDP when launched by
torchrun. Batches come from `MixtureSampler.batch(step)`, a pure function of the
step, so a run resumed from a checkpoint (model, optimizer, sampler, RNG) computes
exactly what the uninterrupted run would have: on CPU its losses are bit-identical.

Output directory (`output`):
    checkpoints/step-NNNNNNNN/   the newest two checkpoints (runtime.checkpoint)
    model/                       the trained model, native format (runtime.export)
    hf/                          Hugging Face export, when `export` is true (dense, MoE)
    metrics.json                 loss curve, tokens, wall time, tokens/s, epochs per source,
                                 final eval; written last: its presence means the job is done

This module does not tokenize, does not choose mixtures and does not read the spec.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from mixc.atomic import write_json
from mixc.jobfile import JobError
from mixc.jobs import TrainJob
from mixc.runtime import checkpoint


def mixture_weights(job: TrainJob) -> list[float]:
    """The job's weights: given, or read from the file the deciding job wrote."""
    if job.weights is not None:
        return job.weights
    path = Path(job.weights_file.path)
    try:
        weights = json.loads(path.read_text(encoding="utf-8"))["mixtures"][job.weights_file.key]
    except FileNotFoundError:
        raise JobError(f"{path}: missing; the job that decides this run's mixture has not finished") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise JobError(f"{path}: no mixture {job.weights_file.key!r} in it ({exc})") from None
    if not isinstance(weights, list) or len(weights) != len(job.sources):
        raise JobError(f"{path}: mixture {job.weights_file.key!r} does not have one weight per source "
                       f"({len(job.sources)})")
    return [float(w) for w in weights]


def lr_at(job: TrainJob, step: int) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warmup, then constant or cosine to min_lr."""
    if step < job.warmup_steps:
        return job.lr * (step + 1) / job.warmup_steps
    if job.schedule == "constant":
        return job.lr
    span = max(1, job.steps - job.warmup_steps)
    progress = min(1.0, (step - job.warmup_steps) / span)
    return job.min_lr + 0.5 * (job.lr - job.min_lr) * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class Dist:
    """Where this process stands in a torchrun launch (world 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: torch.device) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def device_for(name: str) -> torch.device:
    """The device for a job's `device` field: cpu, cuda, or auto (CUDA when present)."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise JobError("device: cuda was asked for but torch sees no CUDA device")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


class Progress:
    """A one-line progress bar on an interactive terminal, plain log lines otherwise."""

    def __init__(self, total: int, every: int, enabled: bool):
        self.total, self.every, self.enabled, self.stream = total, every, enabled, sys.stderr
        self.tty = enabled and self.stream.isatty()

    def say(self, message: str) -> None:
        if self.enabled:
            self.stream.write(("\n" if self.tty else "") + message + "\n")
            self.stream.flush()

    def update(self, step: int, loss: float, lr: float, tokens_per_s: float) -> None:
        if not self.enabled:
            return
        done = step + 1
        if self.tty:
            width = 30
            filled = width * done // self.total
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {done}/{self.total} loss {loss:.4f} lr {lr:.2e} {tokens_per_s:,.0f} tok/s")
            self.stream.flush()
        elif done % self.every == 0 or done == self.total:
            self.stream.write(f"step {done}/{self.total} loss {loss:.4f} lr {lr:.3e} {tokens_per_s:,.0f} tok/s\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _rng_state() -> dict[str, Any]:
    # Only torch's generators are used (initialisation); batches come from the sampler's own
    # per-step generator, so numpy's and Python's global states play no part.
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def kept_message(last_saved: Path | None) -> str:
    return f"the last good checkpoint is {last_saved}" if last_saved else "no checkpoint had been written"


class StopTraining(Exception):
    """Raised by a `stop_after` hook: ends the run abruptly, as a kill would (tests use it)."""


def train(job: TrainJob, stop_after: int | None = None) -> dict[str, Any]:
    """Run (or resume) the job; returns the metrics also written to `<output>/metrics.json`.

    `stop_after` ends the process's work right after that many steps of this run,
    without any checkpoint or output, exactly as a kill at that point would."""
    from mixc.runtime.export import export_hf, save_native
    from mixc.runtime.models import ModelConfig, RouterConfig
    from mixc.runtime.sampler import MixtureSampler

    device = device_for(job.device)
    dist = _init_distributed(device)
    if job.batch_size % (job.micro_batch * dist.world):
        raise JobError(f"batch_size {job.batch_size} is not divisible by micro_batch {job.micro_batch} "
                       f"x {dist.world} processes")
    out = Path(job.output)
    progress = Progress(job.steps, job.log_every, enabled=dist.main)
    torch.manual_seed(job.seed)

    model = ModelConfig(job.model, rope_theta=job.rope_theta,
                        router=RouterConfig(job.load_balance_coef, job.z_loss_coef)).build().to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": job.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=job.lr, betas=(job.beta1, job.beta2), fused=True,
    )
    sampler = MixtureSampler(job.store, job.sources, mixture_weights(job), job.model.seq_len, job.batch_size, job.seed)

    start_step, curve, wall_before = 0, [], 0.0
    resumed = checkpoint.latest(out / "checkpoints", progress.say)
    if resumed is not None:
        state = resumed.state
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state_dict(json.loads(state["sampler"]))
        _set_rng_state(state["rng"])
        start_step, curve, wall_before = resumed.step, json.loads(state["curve"]), float(state["wall_time_s"])
        progress.say(f"resuming from {resumed.path} (step {start_step} of {job.steps})")

    use_compile = job.compile if job.compile is not None else device.type == "cuda"
    net: Callable = torch.compile(model) if use_compile else model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext())
    rows = job.batch_size // dist.world
    micro_steps = rows // job.micro_batch
    tokens_per_step = job.batch_size * job.model.seq_len
    started = time.perf_counter()

    def save_checkpoint(step: int) -> Path:
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "sampler": json.dumps(sampler.state_dict()), "rng": _rng_state(), "curve": json.dumps(curve),
                 "wall_time_s": wall_before + time.perf_counter() - started}
        return checkpoint.save(out / "checkpoints", step, state)

    last_saved = resumed.path if resumed is not None else None
    for step in range(start_step, job.steps):
        lr = lr_at(job, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = torch.from_numpy(sampler.batch(step)[dist.rank * rows : (dist.rank + 1) * rows]).to(device)
        total = torch.zeros((), device=device)
        for m in range(micro_steps):
            part = batch[m * job.micro_batch : (m + 1) * job.micro_batch]
            sync = m == micro_steps - 1 or dist.world == 1
            with (nullcontext() if sync else net.no_sync()), autocast:
                output = net(part[:, :-1], part[:, 1:])
            (output.loss / micro_steps).backward()
            total += output.ce.detach() / micro_steps
        if job.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), job.grad_clip)
        if dist.world > 1:
            torch.distributed.all_reduce(total)
            total /= dist.world
        loss = total.item()
        if not math.isfinite(loss):
            raise JobError(f"loss is {loss} at step {step + 1}; stopping ({kept_message(last_saved)})")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        curve.append([step + 1, loss])
        elapsed = time.perf_counter() - started
        progress.update(step, loss, lr, (step + 1 - start_step) * tokens_per_step / max(elapsed, 1e-9))
        done = step + 1
        if dist.main and (done % job.checkpoint_every == 0 or done == job.steps):
            # A loss can be finite while the step it produced overflows the weights: never save those.
            if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                raise JobError(f"weights are not finite after step {done}; stopping ({kept_message(last_saved)})")
            last_saved = save_checkpoint(done)
        if stop_after is not None and done - start_step >= stop_after:
            raise StopTraining(f"stopped after step {done}")
    progress.close()

    wall = wall_before + time.perf_counter() - started
    metrics = {
        "steps": job.steps, "tokens": job.steps * tokens_per_step, "wall_time_s": wall,
        "tokens_per_s": job.steps * tokens_per_step / wall if wall > 0 else None,
        "final_loss": curve[-1][1] if curve else None, "loss_curve": curve,
        "epochs": sampler.epochs(), "world_size": dist.world, "device": device.type, "compiled": use_compile,
        "resumed_from_step": start_step,
    }
    if dist.main:
        if job.eval_tokens and job.eval_sources:
            from mixc.runtime.evaluate import evaluate

            metrics["eval"] = evaluate(model, job.store, job.eval_sources, job.eval_tokens, job.micro_batch, device)
        tokenizer_dir = Path(job.tokenizer) if job.tokenizer else None
        save_native(model, out / "model", tokenizer_dir)
        if job.export:
            if job.model.kind == "mole":
                progress.say("export: MoLE has no Hugging Face counterpart; model/ holds it in the native format")
            else:
                export_hf(model, out / "hf", tokenizer_dir)
        write_json(out / "metrics.json", metrics)
    if dist.world > 1:
        torch.distributed.barrier()
    return metrics


def run(job: TrainJob) -> None:
    train(job)
