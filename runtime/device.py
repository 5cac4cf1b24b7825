"""Where a job's work runs: its device, the autocast that goes with it, how batches reach it, its
place in a torchrun launch, and eager execution when torch.compile cannot build.

Shared by `train`, `packed` and `evaluate`, so that none imports another. Nothing here
builds models, reads data or trains.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

import torch

from mixc.jobfile import JobError


def device_for(name: str) -> torch.device:
    """The device for a job's `device` field: cpu, cuda, or auto (CUDA when present)."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise JobError("device: cuda was asked for but torch sees no CUDA device")
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)  # the current device of every later CUDA call and of NCCL
        # fp32 matmuls (outside autocast: the optimizer's, the router's fp32 logits) on TF32
        # tensor cores; CPU results, the reproducible ones, are unaffected.
        torch.set_float32_matmul_precision("high")
        return device
    return torch.device("cpu")


def autocast(device: torch.device) -> AbstractContextManager:
    """bf16 autocast on CUDA; full precision elsewhere (CPU results stay bit-reproducible)."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host batch on `device`. To CUDA through pinned memory and without blocking: a copy
    from pageable memory makes the host wait for the GPU's queue to drain, so the next batch
    could not be built while this step computes."""
    if device.type != "cuda":
        return batch.to(device)
    return batch.pin_memory().to(device, non_blocking=True)


T = TypeVar("T")


def eager_if_compile_fails(compiled: bool, attempt: Callable[[], T], fall_back: Callable[[str], None]) -> T:
    """`attempt()`; when it is compiled and torch.compile fails inside it (no C++ compiler, no
    Triton, a graph inductor cannot build), `fall_back(reason)` (which must make the next
    attempt eager and undo the failed one's partial work) and `attempt()` again. torch.compile
    builds lazily, on the first call of a new shape, so the failure surfaces here, in a step,
    and every retry of the job would end in it again."""
    if not compiled:
        return attempt()
    from torch._dynamo.exc import TorchDynamoException  # loaded by torch.compile already; 1.5 s otherwise

    try:
        return attempt()
    except TorchDynamoException as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        fall_back(f"{type(err).__name__}: {reason}"[:300])
    return attempt()


@dataclass(frozen=True)
class Dist:
    """Where this process stands in a torchrun launch (world 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Dist:
    """Join the process group torchrun set up (NCCL on CUDA, gloo on CPU); world 1 without torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        if device.type == "cuda":  # bound to this rank's GPU: no rank creates a context on GPU 0
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
