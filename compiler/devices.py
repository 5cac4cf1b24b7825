"""The device table: peak throughput, the MFU assumed when a spec does not say, how many jobs
one device runs side by side, its memory, and what a train job pays before and after its steps.

Peaks are dense bf16 tensor-core figures from the vendors' datasheets (A100 SXM 312
TFLOP/s, H100 SXM 989 TFLOP/s, H200 SXM 989 TFLOP/s); memories are the SXM parts' (A100
80 GB, H100 80 GB, H200 141 GB). `cpu` is a small x86 machine (2 cores, fp32, AVX2 FMA:
2 cores x 3 GHz x 32 FLOP/cycle ~ 0.19 TFLOP/s) that runs one single-threaded job per core
(`lanes`), as a local run schedules them; a job's MFU is of the lane it runs on. Its default
MFU was measured: single-threaded train steps of the quickstart's proxy (dense) and target
(MoE) models reached 11% and 15% of this 2-core peak (22% and 30% of one core's) on a busy
machine, so 20% of a core, with room for two jobs sharing the memory bus. The runtime has got
faster since: their whole training loops now reach 50% and 67% of one core's peak (on an
AVX-512 machine, beside another busy process), so on CPU the estimate errs long.

GPUs' default MFU, 30%, is assumed, not measured (no GPU was at hand): a read of the train
loop as it now is (bf16 GEMMs in the loss head, TF32 elsewhere, no host sync each step,
pinned non-blocking copies, DDP's all-reduce overlapping the backward) puts a 60M dense
proxy at about a third of an H100's peak, and smaller models lower (packs make up part of
that). Time limits are twice the estimate, so a job at half this MFU still ends in time;
a spec that knows better states `mfu`.

`start_s`, a train job's fixed cost: on `cpu` measured, 3 s for the quickstart's proxy on a
busy 2-core machine (2.4 s to its first step: interpreter, imports (1.6 s), model, store
reads; 0.6 s to save the model and exit); on GPUs those 3 s plus CUDA start-up (10 s) and
torch.compile of the model (60 s), both assumed, not measured (no GPU was at hand). Data only.
"""

from __future__ import annotations

from dataclasses import dataclass

CPU_START_S = 3.0  # measured: see the docstring
CUDA_START_S = 10.0  # assumed: CUDA context, cuBLAS and NCCL set-up
COMPILE_S = 60.0  # assumed: torch.compile (inductor) of a small transformer, cold cache
GPU_MFU = 0.30  # assumed: see the docstring


@dataclass(frozen=True)
class Device:
    name: str
    peak_flops: float  # per device, FLOP/s
    default_mfu: float
    lanes: int = 1  # jobs one device runs side by side, each on its share of the peak
    memory_gb: float = 0.0  # per device; 0: the host's memory (cpu)
    start_s: float = CPU_START_S + CUDA_START_S + COMPILE_S  # a train job's fixed cost

    @property
    def gpu(self) -> bool:
        return self.name != "cpu"


DEVICES: dict[str, Device] = {
    "cpu": Device("cpu", 1.9e11, 0.20, lanes=2, start_s=CPU_START_S),
    "a100": Device("a100", 312e12, GPU_MFU, memory_gb=80),
    "h100": Device("h100", 989e12, GPU_MFU, memory_gb=80),
    "h200": Device("h200", 989e12, GPU_MFU, memory_gb=141),
}
