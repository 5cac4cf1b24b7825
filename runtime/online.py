"""The train loop's side of an online mixture controller (`runtime.mixture_control`): what needs
the model. DoReMi's step weighs each domain's mean loss by the controller's alpha, from the
excess of the proxy's per-token losses over the reference model's on the same batch; Aioli's
measurements are every source's loss on fixed windows of its training split (the held-out
text that scores the run stays unseen), taken between steps.

Both run in one process: DoReMi's per-domain means are over the whole batch, so it refuses
torchrun (Aioli measures the same losses on every process and needs nothing shared). This
module does not choose mixtures (the controllers do) and writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mixc.jobfile import JobError
from mixc.jobs import TrainJob
from mixc.runtime.device import autocast
from mixc.runtime.evaluate import window_loss
from mixc.runtime.export import ExportError, load_native
from mixc.runtime.mixture_control import Aioli, Controller, DoReMi
from mixc.runtime.models import Transformer
from mixc.runtime.sampler import MixtureSampler, valid_windows


def token_losses(model: Transformer, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy of every predicted token [n, T] in fp32, the routers' auxiliary loss) of
    windows [n, T + 1]: the body under autocast, the logits in fp32."""
    with autocast(windows.device):
        h, aux = model.hidden(windows[:, :-1])
    logits = h.float() @ model.head.weight.float().T
    ce = F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten(), reduction="none")
    return ce.view(windows.shape[0], -1), aux


class DoReMiStep:
    """DoReMi's training step (Xie et al. 2023, Algorithm 1) for one process."""

    def __init__(self, job: TrainJob, control: DoReMi, device: torch.device, world: int):
        if world > 1:
            raise JobError("a doremi run trains in one process (its per-domain losses are over the whole batch); "
                           "run it without torchrun")
        try:
            self.reference = load_native(Path(job.control.doremi.reference)).to(device)
        except ExportError as err:
            raise JobError(f"the reference model: {err}") from None
        ref, own = self.reference.config.shape, job.model
        if ref.vocab != own.vocab or ref.seq_len < own.seq_len:
            raise JobError(f"the reference model (vocab {ref.vocab}, seq_len {ref.seq_len}) cannot score this run's "
                           f"windows (vocab {own.vocab}, seq_len {own.seq_len})")
        self.reference.requires_grad_(False)
        self.control, self.sources = control, len(job.sources)
        self.step, self.rows = 0, np.zeros(0, dtype=np.int64)

    def before(self, step: int, sampler: MixtureSampler, weights: list[float]) -> None:
        """Step `step` comes next: remember which source each row of its batch comes from."""
        self.step, self.rows = step, sampler.rows(step, weights)

    def forward_backward(self, model: Transformer, batch: torch.Tensor, micro: int) -> torch.Tensor:
        """The step's backward of sum_i alpha_i x (domain i's mean loss), alpha updated from this
        batch's excess losses under the weights before the step; returns the plain mean
        cross-entropy of the batch, detached."""
        rows = torch.from_numpy(self.rows).to(batch.device)
        counts = torch.bincount(rows, minlength=self.sources).to(torch.float64)
        with torch.no_grad():
            excess = torch.cat([(token_losses(model, part)[0] - token_losses(self.reference, part)[0]).clamp_min(0)
                                .mean(dim=1) for part in batch.split(micro)])
        # Every row holds the same number of tokens, so the mean of a domain's row means is the
        # mean over its tokens: each domain's own mean, whatever its share of the batch.
        per_domain = torch.zeros(self.sources, dtype=torch.float64, device=batch.device)
        per_domain.index_add_(0, rows, excess.to(torch.float64))
        lam = (per_domain / counts.clamp_min(1)).cpu().numpy()
        alpha = torch.from_numpy(self.control.update(self.step, lam)).to(batch.device)
        row_weight = (alpha / counts.clamp_min(1))[rows].float()
        count = -(-batch.shape[0] // micro)
        total = torch.zeros((), device=batch.device)
        for part, weight in zip(batch.split(micro), row_weight.split(micro)):
            ce, aux = token_losses(model, part)
            ((ce.mean(dim=1) * weight).sum() + aux / count).backward()
            total += ce.detach().mean() / count
        return total


class AioliMeasure:
    """Aioli's loss measurements (Chen et al. 2024) between steps, for one process."""

    def __init__(self, job: TrainJob, control: Aioli, device: torch.device):
        tokens = control.config.eval_tokens
        self.windows = [torch.from_numpy(valid_windows(job.store, s, job.model.seq_len, tokens, split="train"))
                        for s in job.sources]
        self.control, self.device, self.batch = control, device, job.micro_batch

    @torch.no_grad()
    def before(self, step: int, model: Transformer) -> None:
        """Every source's loss before step `step`, to the controller, when it asks for them."""
        if not self.control.measures(step):
            return
        was_training = model.training
        model.eval()
        losses = []
        for windows in self.windows:
            total = sum(window_loss(model, part.to(self.device), autocast(self.device)) * part.shape[0]
                        for part in windows.split(self.batch))
            losses.append(total / windows.shape[0])
        model.train(was_training)
        self.control.observe(step, losses)


def guide_for(job: TrainJob, control: Controller, device: torch.device, world: int) -> DoReMiStep | AioliMeasure | None:
    """What the train loop runs beside the controller: DoReMi's step, Aioli's measurements, or nothing."""
    if isinstance(control, DoReMi):
        return DoReMiStep(job, control, device, world)
    if isinstance(control, Aioli):
        return AioliMeasure(job, control, device)
    return None
