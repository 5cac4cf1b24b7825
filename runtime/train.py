"""Kind `train`: train one model on one mixture, resumably, and leave its results in its own directory.

The loop: AdamW, linear warmup then constant or cosine decay, gradient clipping,
gradient accumulation over micro-batches, bf16 autocast and torch.compile on CUDA
(compile optional on CPU, where it costs tens of seconds), DDP when launched by
torchrun. Batches come from `MixtureSampler.batch(step, weights)`, a pure function of
the step and that step's mixture, which the job's mixture controller gives
(`runtime.mixture_control`: fixed, phases, DoReMi, Aioli; `runtime.online` runs what
the online ones need of the model), so a run resumed from a checkpoint (model,
optimizer, sampler, controller, RNG) computes exactly what the uninterrupted run would
have: on CPU its losses are bit-identical.

`train(job)` reads as its stages (`Trainer`): setup, resume, parallelize, train
(every step `train_step` -> `forward_backward_step`, then a checkpoint when due),
finish (evaluate, save the model, write the metrics).

Output directory (`output`):
    checkpoints/step-NNNNNNNN/   the newest two checkpoints (runtime.checkpoint)
    model/                       the trained model, native format (runtime.export)
    hf/                          Hugging Face export, when `export` is true (dense, MoE)
    mixtures.json                an online run's learned mixture, {"mixtures": {"learned": [...]}}
    metrics.json                 loss curve, tokens, wall time, tokens/s, epochs per source,
                                 final eval, the mixture over steps (`mixture`: kind, sources,
                                 schedule [[first step, weights], ...], learned) when it moved;
                                 written last: its presence means the job is done

This module does not tokenize, does not choose mixtures and does not read the spec.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from mixc.atomic import write_json
from mixc.jobfile import JobError
from mixc.jobs import TrainJob, WeightsFile
from mixc.runtime import checkpoint, evaluate
from mixc.runtime.mixture_control import Controller, build as build_control
from mixc.runtime.device import autocast, device_for, eager_if_compile_fails, init_distributed, to_device
from mixc.runtime.export import HF_ADAPTERS, export_hf, save_native
from mixc.runtime.models import ModelConfig, RouterConfig, Transformer
from mixc.runtime.online import DoReMiStep, guide_for
from mixc.runtime.sampler import MixtureSampler


def read_mixture(weights: list[float] | None, weights_file: WeightsFile | None, sources: int) -> list[float]:
    """A mixture given inline, or read from the file the deciding job wrote."""
    if weights is not None:
        return weights
    path = Path(weights_file.path)
    try:
        weights = json.loads(path.read_text(encoding="utf-8"))["mixtures"][weights_file.key]
    except FileNotFoundError:
        raise JobError(f"{path}: missing; the job that decides this run's mixture has not finished") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise JobError(f"{path}: no mixture {weights_file.key!r} in it ({exc})") from None
    if not isinstance(weights, list) or len(weights) != sources:
        raise JobError(f"{path}: mixture {weights_file.key!r} does not have one weight per source ({sources})")
    return [float(w) for w in weights]


def mixture_control(job: TrainJob) -> Controller:
    """The job's mixture over its steps: its weights throughout, its phases, or an online method."""
    n = len(job.sources)
    weights = None if job.weights is None and job.weights_file is None else read_mixture(job.weights, job.weights_file, n)
    return build_control(job.control, weights, job.steps, job.seed,
                         lambda phase: read_mixture(phase.weights, phase.weights_file, n))


def lr_at(job: TrainJob, step: int) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warmup, then constant or cosine to min_lr."""
    if step < job.warmup_steps:
        return job.lr * (step + 1) / job.warmup_steps
    if job.schedule == "constant":
        return job.lr
    span = max(1, job.steps - job.warmup_steps)
    progress = min(1.0, (step - job.warmup_steps) / span)
    return job.min_lr + 0.5 * (job.lr - job.min_lr) * (1 + math.cos(math.pi * progress))


class Progress:
    """A one-line progress bar on an interactive terminal, plain log lines otherwise."""

    def __init__(self, total: int, every: int, enabled: bool):
        self.total, self.every, self.enabled, self.stream = total, every, enabled, sys.stderr
        self.tty = enabled and self.stream.isatty()

    def due(self, done: int) -> bool:
        """Whether the step that makes `done` steps is a log step (the losses are read then)."""
        return done % self.every == 0 or done == self.total

    def say(self, message: str) -> None:
        if self.enabled:
            self.stream.write(("\n" if self.tty else "") + message + "\n")
            self.stream.flush()

    def update(self, step: int, loss: float, lr: float, tokens_per_s: float) -> None:
        if not self.enabled:
            return
        done = step + 1
        if not self.due(done):
            return
        if self.tty:
            width = 30
            filled = width * done // self.total
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {done}/{self.total} loss {loss:.4f} lr {lr:.2e} {tokens_per_s:,.0f} tok/s")
            self.stream.flush()
        else:
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
    """What an error that stops the job says about the checkpoints it leaves."""
    return f"the last good checkpoint is {last_saved}" if last_saved else "no checkpoint had been written"


def build_model(job: TrainJob) -> Transformer:
    """The job's model, initialised from torch's generator (seed it first)."""
    router = RouterConfig(job.load_balance_coef, job.z_loss_coef)
    return ModelConfig(job.model, rope_theta=job.rope_theta, router=router).build()


def build_optimizer(job: TrainJob, model: Transformer) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": job.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=job.lr, betas=(job.beta1, job.beta2), fused=True,
    )


StepCallback = Callable[[int], None]  # steps done, after the step's checkpoint


class Trainer:
    """One process's run of a train job, as stages: setup (here), resume, parallelize, train
    (each step: train_step -> forward_backward_step, then a checkpoint when due), finish."""

    def __init__(self, job: TrainJob, progress: Progress | None = None):
        self.job = job
        self.device = device_for(job.device)
        self.dist = init_distributed(self.device)
        if job.batch_size % (job.micro_batch * self.dist.world):
            raise JobError(f"batch_size {job.batch_size} is not divisible by micro_batch {job.micro_batch} "
                           f"x {self.dist.world} processes")
        self.out = Path(job.output)
        self.progress = progress or Progress(job.steps, job.log_every, enabled=self.dist.main)
        torch.manual_seed(job.seed)
        self.model = build_model(job).to(self.device)
        self.optimizer = build_optimizer(job, self.model)
        self.control = mixture_control(job)
        self.sampler = MixtureSampler(job.store, job.sources, self.control.support().tolist(), job.model.seq_len,
                                      job.batch_size, job.seed)
        self.guide = guide_for(job, self.control, self.device, self.dist.world)  # what an online method runs
        self.compiled = job.compile if job.compile is not None else self.device.type == "cuda"
        self.wrapped: torch.nn.Module = self.model  # the model, or DDP around it
        self.net: Callable = self.model  # what the steps call: `wrapped`, compiled or not
        self.rows = job.batch_size // self.dist.world  # this process's share of every batch
        self.micro_steps = self.rows // job.micro_batch
        self.tokens_per_step = job.batch_size * job.model.seq_len
        self.start_step, self.curve, self.wall_before = 0, [], 0.0
        # (step, loss on the device) of the steps since the losses were last read: reading one
        # is a device sync, so that happens on log steps and checkpoints only (`read_losses`).
        self.unread: list[tuple[int, torch.Tensor]] = []
        self.last_saved: Path | None = None
        self.started = 0.0  # perf_counter when this run's first step started

    def resume(self) -> None:
        """Continue from the newest readable checkpoint, if any: model, optimizer, sampler, RNG, curve."""
        resumed = checkpoint.latest(self.out / "checkpoints", self.progress.say)
        if resumed is not None:
            self.restore(resumed)

    def restore(self, resumed: checkpoint.Loaded) -> None:
        """Take up the state of a checkpoint this job wrote."""
        state = resumed.state
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(json.loads(state["sampler"]))
        if "mixture" in state:
            self.control.load_state_dict(json.loads(state["mixture"]))
        _set_rng_state(state["rng"])
        self.start_step, self.curve = resumed.step, json.loads(state["curve"])
        self.wall_before, self.last_saved = float(state["wall_time_s"]), resumed.path
        self.progress.say(f"resuming from {resumed.path} (step {self.start_step} of {self.job.steps})")

    def parallelize(self) -> None:
        """Wrap the (resumed) model: DDP when launched by torchrun, then torch.compile when asked.
        In that order, compile sees DDP's gradient buckets and splits the graph at them, so each
        bucket's all-reduce overlaps the rest of the backward (DDP inside a compiled module
        would reduce only after the whole compiled backward)."""
        if self.dist.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = DistributedDataParallel(self.model, device_ids=ids)
        self.net = torch.compile(self.wrapped) if self.compiled else self.wrapped

    def compile_failed(self, reason: str) -> None:
        """torch.compile could not build: train eagerly from here on, with a warning; the failed
        step's partial gradients are dropped (the step is taken again)."""
        self.progress.say(f"warning: torch.compile failed ({reason}); training eagerly, which is slower. "
                          "Install a C++ compiler (and Triton on GPUs), or set compile: false in the recipe")
        self.compiled = False
        self.optimizer.zero_grad(set_to_none=True)
        self.net = self.wrapped

    def train(self, on_step: StepCallback | None = None) -> None:
        """Every remaining step: train_step, a checkpoint when one is due, then `on_step`."""
        job = self.job
        self.started = time.perf_counter()
        for step in range(self.start_step, job.steps):
            self.train_step(step)
            done = step + 1
            if done % job.checkpoint_every == 0 or done == job.steps:
                self.read_losses()  # every process: a loss that is not finite stops them all here
                if self.dist.main:
                    self.save_checkpoint(done)
            if on_step is not None:
                on_step(done)
        self.read_losses()
        self.progress.close()

    def train_step(self, step: int) -> None:
        """Optimizer step `step` (0-based) on this process's rows of the step's batch; on a log
        step, reads the losses (cross-entropy, averaged over all processes) and shows progress."""
        lr, batch = self.begin_step(step)
        total = eager_if_compile_fails(self.compiled, lambda: self.forward_backward_step(batch), self.compile_failed)
        self.end_step(step, total)
        if self.progress.due(step + 1):
            self.read_losses()
            elapsed = time.perf_counter() - self.started
            tokens = (step + 1 - self.start_step) * self.tokens_per_step
            self.progress.update(step, self.curve[-1][1], lr, tokens / max(elapsed, 1e-9))

    def read_losses(self) -> None:
        """Move the unread losses into the curve, with one device sync; a loss that is not finite
        stops the job, naming its step (the steps after it were taken, but no checkpoint is
        written from them: saving reads the losses first)."""
        if not self.unread:
            return
        losses = torch.stack([loss for _, loss in self.unread]).tolist()
        steps = [step for step, _ in self.unread]
        self.unread = []
        for step, loss in zip(steps, losses):
            if not math.isfinite(loss):
                raise JobError(f"loss is {loss} at step {step}; stopping ({kept_message(self.last_saved)})")
            self.curve.append([step, loss])

    def begin_step(self, step: int) -> tuple[float, torch.Tensor]:
        """Set step `step`'s learning rate; return it and this process's rows of the step's batch."""
        lr = lr_at(self.job, step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.guide is not None and not isinstance(self.guide, DoReMiStep):
            self.guide.before(step, self.model)  # Aioli measures between steps, before the mixture is read
        # A fixed mixture is the sampler's own; any other is the controller's for this step.
        weights = None if self.control.kind == "static" else self.control.draw(step).tolist()
        if isinstance(self.guide, DoReMiStep):
            self.guide.before(step, self.sampler, weights)
        rows = slice(self.dist.rank * self.rows, (self.dist.rank + 1) * self.rows)
        return lr, to_device(torch.from_numpy(self.sampler.batch(step, weights)[rows]), self.device)

    def end_step(self, step: int, total: torch.Tensor) -> None:
        """After step `step`'s backward, with `total` its cross-entropy on this process: clip,
        average over processes, take the optimizer step, keep the loss unread (no device sync)."""
        if self.job.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.job.grad_clip)
        if self.dist.world > 1:
            torch.distributed.all_reduce(total)
            total /= self.dist.world
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.unread.append((step + 1, total))

    def forward_backward_step(self, batch: torch.Tensor) -> torch.Tensor:
        """Forward and backward over the micro-batches of `batch` [rows, seq_len + 1], gradients
        accumulated (DDP averages them on the last one); returns their mean cross-entropy, detached.
        A DoReMi run weighs its domains' losses instead (`online.DoReMiStep`)."""
        if isinstance(self.guide, DoReMiStep):
            return self.guide.forward_backward(self.model, batch, self.job.micro_batch)
        size, count = self.job.micro_batch, self.micro_steps
        total = torch.zeros((), device=self.device)
        for m in range(count):
            part = batch[m * size : (m + 1) * size]
            sync = m == count - 1 or self.dist.world == 1
            with (nullcontext() if sync else self.net.no_sync()), autocast(self.device):
                output = self.net(part[:, :-1], part[:, 1:])
            (output.loss / count).backward()
            total += output.ce.detach() / count
        return total

    def save_checkpoint(self, done: int) -> None:
        """Checkpoint after `done` steps; weights that are no longer finite stop the job instead."""
        # A loss can be finite while the step it produced overflows the weights: never save those.
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise JobError(f"weights are not finite after step {done}; stopping ({kept_message(self.last_saved)})")
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "sampler": json.dumps(self.sampler.state_dict()), "mixture": json.dumps(self.control.state_dict()),
                 "rng": _rng_state(),
                 "curve": json.dumps(self.curve), "wall_time_s": self.wall_time()}
        self.last_saved = checkpoint.save(self.out / "checkpoints", done, state)

    def wall_time(self) -> float:
        """Seconds of training so far, over every run of this job."""
        return self.wall_before + time.perf_counter() - self.started

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Valid-split loss of each eval source (the same figure an `eval` job gives)."""
        job = self.job
        return evaluate.evaluate(self.model, job.store, job.eval_sources, job.eval_tokens, job.eval_seq_len,
                                 job.micro_batch, self.device)

    def save_model(self) -> None:
        """model/ in the native format; hf/ too when asked for and the kind has a Hugging Face counterpart."""
        tokenizer_dir = Path(self.job.tokenizer) if self.job.tokenizer else None
        save_native(self.model, self.out / "model", tokenizer_dir)
        kind = self.job.model.kind
        if self.job.export and kind in HF_ADAPTERS:
            export_hf(self.model, self.out / "hf", tokenizer_dir)
        elif self.job.export:
            self.progress.say(f"export: {kind} models have no Hugging Face counterpart; "
                              "model/ holds this one in the native format")

    def finish(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Process 0 evaluates, saves the model and writes metrics.json (with `extra`'s entries), last;
        every process returns the metrics."""
        job, dist = self.job, self.dist
        wall, tokens = self.wall_time(), job.steps * self.tokens_per_step
        metrics = {
            "steps": job.steps, "tokens": tokens, "wall_time_s": wall,
            "tokens_per_s": tokens / wall if wall > 0 else None,
            "final_loss": self.curve[-1][1] if self.curve else None, "loss_curve": self.curve,
            "epochs": self.sampler.epochs(), "world_size": dist.world, "device": self.device.type,
            "compiled": self.compiled, "resumed_from_step": self.start_step, **(extra or {}),
        }
        if self.control.kind != "static":
            metrics["mixture"] = {"kind": self.control.kind, "sources": job.sources,
                                  "schedule": self.control.schedule(), "learned": self.control.learned()}
        if dist.main:
            if job.eval_tokens and job.eval_sources:
                metrics["eval"] = self.evaluate()
            self.save_model()
            if job.control is not None and job.control.online:
                # What a run trained on the learned mixture reads (its `weights_file`, key "learned").
                write_json(self.out / "mixtures.json", {"sources": job.sources,
                                                        "mixtures": {"learned": self.control.learned()}})
            write_json(self.out / "metrics.json", metrics)
        if dist.world > 1:
            torch.distributed.barrier()
        return metrics


def train(job: TrainJob, on_step: StepCallback | None = None) -> dict[str, Any]:
    """Run (or resume) the job; returns the metrics also written to `<output>/metrics.json`.

    `on_step(done)` is called after every step (and its checkpoint, when one was due);
    whatever it raises ends the run there, with no further checkpoint or output, as a kill would."""
    trainer = Trainer(job)
    trainer.resume()
    trainer.parallelize()
    trainer.train(on_step)
    return trainer.finish()


def run(job: TrainJob) -> None:
    train(job)
