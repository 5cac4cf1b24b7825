"""Where a job's work runs: its device, the autocast that goes with it, its place in a torchrun launch.

Shared by `train` and `evaluate`, so that neither imports the other. Nothing here
builds models, reads data or trains.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

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
