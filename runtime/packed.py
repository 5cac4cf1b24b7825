"""Kind `pack`: the models of several train jobs trained together in one process, each as if alone.

A mixture search trains many small proxies of one architecture and recipe that differ only in
their mixture and seed; one such model alone leaves a device mostly idle, and each process
pays its start-up. A pack holds one `train.Trainer` per member (its model built and seeded as
the train job builds it, its AdamW, its mixture sampler, its output folder) and steps them
together: each member's batch from its own sampler, one forward and backward of all members
through `models.stacked.Stacked` (stacked weights, batched matmuls), then each member's own
clipping and optimizer step. A member's losses are those of its train job run alone, up to
the order of floating-point sums in the batched kernels (tests/train/test_packed.py states
the tolerance).

Every member writes exactly what its train job would, in its own `output`: checkpoints
(the train job's format, so either kind resumes from them), model/, hf/, and metrics.json
last, with one more entry, `pack` {members, index}. Checkpoints are taken for all members
at the same steps; a pack resumes from the newest step every member has a readable
checkpoint of, so on CPU a resumed pack is bit-identical to an uninterrupted one. A member
whose loss or weights stop being finite stops the pack, naming the member.

This module does not decide which jobs are packed (the compiler does), and runs in one
process (no torchrun).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from mixc.jobfile import JobError
from mixc.jobs import PackJob
from mixc.runtime import checkpoint
from mixc.runtime.device import autocast, eager_if_compile_fails
from mixc.runtime.models.stacked import Stacked
from mixc.runtime.train import Progress, Trainer

PackStepCallback = Callable[[int], None]  # steps done, after the step's checkpoints


class PackTrainer:
    """One process's run of a pack: setup (here), resume, train, finish."""

    def __init__(self, job: PackJob):
        first = job.members[0]
        self.progress = Progress(first.steps, first.log_every, enabled=True)
        self.members = [Trainer(member, self.progress) for member in job.members]
        if any(t.dist.world > 1 for t in self.members):
            raise JobError("a pack trains in one process; run it without torchrun")
        self.job, self.first = job, self.members[0]
        self.stacked = Stacked([t.model for t in self.members])
        self.net: Callable = torch.compile(self.stacked) if self.first.compiled else self.stacked
        self.start_step, self.started = 0, 0.0

    def resume(self) -> None:
        """Continue every member from the newest step all of them have a readable checkpoint of."""
        found = [{checkpoint.step_of(p): p for p in checkpoint.checkpoints(t.out / "checkpoints")} for t in self.members]
        common = sorted(set.intersection(*(set(f) for f in found)), reverse=True)
        for step in common:
            try:
                loaded = [checkpoint.read(f[step]) for f in found]
            except checkpoint.CheckpointError as err:
                self.progress.say(f"checkpoint error: {err}; trying an older step of every member")
                continue
            for trainer, state in zip(self.members, loaded):
                trainer.restore(state)
            self.start_step = step
            return
        if any(found):
            self.progress.say("no step has a readable checkpoint in every member; starting over from step 0")

    def train(self, on_step: PackStepCallback | None = None) -> None:
        """Every remaining step: train_step, every member's checkpoint when one is due, then `on_step`."""
        self.started = time.perf_counter()
        for trainer in self.members:
            trainer.started = self.started
        steps, every = self.first.job.steps, self.first.job.checkpoint_every
        for step in range(self.start_step, steps):
            self.train_step(step)
            done = step + 1
            if done % every == 0 or done == steps:
                self.read_losses()
                for trainer in self.members:
                    trainer.save_checkpoint(done)
            if on_step is not None:
                on_step(done)
        self.read_losses()
        self.progress.close()

    def train_step(self, step: int) -> None:
        """Optimizer step `step` (0-based) of every member; on a log step, reads their losses
        (cross-entropy) and shows progress with their mean."""
        begun = [t.begin_step(step) for t in self.members]
        batch = torch.stack([batch for _, batch in begun])
        totals = eager_if_compile_fails(self.first.compiled, lambda: self.forward_backward_step(batch),
                                        self.compile_failed)
        for i, trainer in enumerate(self.members):
            trainer.end_step(step, totals[i])
        if self.progress.due(step + 1):
            self.read_losses()
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            tokens = (step + 1 - self.start_step) * self.first.tokens_per_step * len(self.members)
            mean = sum(t.curve[-1][1] for t in self.members) / len(self.members)
            self.progress.update(step, mean, begun[0][0], tokens / elapsed)

    def read_losses(self) -> None:
        """Every member's unread losses into its curve; one that is not finite stops the pack, naming the member."""
        for i, trainer in enumerate(self.members):
            try:
                trainer.read_losses()
            except JobError as err:
                raise JobError(f"pack member {i} ({trainer.job.output}): {err}") from None

    def compile_failed(self, reason: str) -> None:
        """As `Trainer.compile_failed`, for every member: the pack steps eagerly from here on."""
        self.first.compile_failed(reason)  # the warning, once
        for trainer in self.members:
            trainer.compiled = False
            trainer.optimizer.zero_grad(set_to_none=True)
        self.net = self.stacked

    def forward_backward_step(self, batch: torch.Tensor) -> torch.Tensor:
        """Forward and backward of every member over the micro-batches of its rows of `batch`
        [K, rows, seq_len + 1], as `Trainer.forward_backward_step` does for one; returns each
        member's mean cross-entropy [K], detached."""
        size, count = self.first.job.micro_batch, self.first.micro_steps
        total = torch.zeros(len(self.members), device=self.first.device)
        for m in range(count):
            part = batch[:, m * size : (m + 1) * size]
            with autocast(self.first.device):
                output = self.net(part[:, :, :-1], part[:, :, 1:])
            (output.loss / count).sum().backward()  # each member's loss reaches only its own weights
            total += output.ce.detach() / count
        return total

    def finish(self) -> list[dict[str, Any]]:
        """Each member evaluates, saves its model and writes its metrics.json, as its train job would."""
        return [t.finish({"pack": {"members": len(self.members), "index": i}}) for i, t in enumerate(self.members)]


def train_pack(job: PackJob, on_step: PackStepCallback | None = None) -> list[dict[str, Any]]:
    """Run (or resume) the pack; returns each member's metrics, also written to its metrics.json.

    `on_step(done)` is called after every step (and its checkpoints); whatever it raises
    ends the run there, with no further checkpoint or output, as a kill would."""
    trainer = PackTrainer(job)
    trainer.resume()
    trainer.train(on_step)
    return trainer.finish()


def run(job: PackJob) -> None:
    train_pack(job)
