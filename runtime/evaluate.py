"""Kind `eval`, and the evaluation the train job runs at its end: per-source loss on held-out data.

Each source's valid split gives a fixed set of windows (`sampler.valid_windows`:
evenly spread, non-overlapping predictions, at most `tokens` predicted tokens), so
the figure is deterministic and comparable between runs: the mean cross-entropy
per predicted token, in nats. Output of the job: `<output>/eval.json`. This module
does not train and does not write checkpoints.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import torch

from mixc.atomic import write_json
from mixc.jobfile import JobError
from mixc.jobs import EvalJob
from mixc.runtime.device import autocast, device_for, to_device
from mixc.runtime.export import ExportError, load_native
from mixc.runtime.models.loss import linear_cross_entropy
from mixc.runtime.models.transformer import Transformer
from mixc.runtime.sampler import valid_windows


@torch.no_grad()
def evaluate(model: torch.nn.Module, store: str, sources: list[str], tokens: int, seq_len: int, batch_size: int,
             device: torch.device) -> dict[str, dict[str, float]]:
    """{source: {"loss": mean nats per predicted token, "tokens": predicted tokens}} on each valid
    split, over windows of `seq_len` (the same for every run of an experiment, whatever the
    model's own context: runs are scored on the same text)."""
    if not 1 <= seq_len <= model.config.shape.seq_len:
        raise JobError(f"evaluation windows of {seq_len} tokens need a model of at least that context "
                       f"(this one has seq_len {model.config.shape.seq_len})")
    was_training = model.training
    model.eval()
    results = {}
    for source in sources:
        windows = torch.from_numpy(valid_windows(store, source, seq_len, tokens))
        total = torch.zeros((), dtype=torch.float64, device=device)  # read once per source: no sync per batch
        for start in range(0, len(windows), batch_size):
            part = to_device(windows[start : start + batch_size], device)
            total += window_loss(model, part, autocast(device)) * part.shape[0]  # each predicts seq_len tokens
        results[source] = {"loss": total.item() / len(windows), "tokens": len(windows) * seq_len}
    model.train(was_training)
    return results


def window_loss(model: Transformer, windows: torch.Tensor, precision: AbstractContextManager) -> torch.Tensor:
    """Mean cross-entropy of windows [n, T + 1]: the body under `precision` (bf16 autocast on
    CUDA), the logits and their log-softmax in fp32, so the figure is not rounded to bf16."""
    with precision:
        h, _ = model.hidden(windows[:, :-1])
    with torch.autocast(windows.device.type, enabled=False):
        return linear_cross_entropy(h.float().flatten(0, 1), model.head.weight.float(), windows[:, 1:].flatten())


def run(job: EvalJob) -> None:
    """Evaluate the job's native model on each source's valid split; write `<output>/eval.json`."""
    device = device_for(job.device)
    try:
        model = load_native(Path(job.model)).to(device)
    except ExportError as err:
        raise JobError(str(err)) from None
    seq_len = job.seq_len or model.config.shape.seq_len
    results = evaluate(model, job.store, job.sources, job.tokens, seq_len, job.batch_size, device)
    out = Path(job.output)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "eval.json", {"model": job.model, "losses": results})
