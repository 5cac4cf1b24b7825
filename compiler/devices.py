"""The device table: peak throughput and the MFU assumed when a spec does not say.

Peaks are dense bf16 tensor-core figures from the vendors' datasheets (A100 SXM 312
TFLOP/s, H100 SXM 989 TFLOP/s, H200 SXM 989 TFLOP/s); `cpu` is a small x86 machine
(2 cores, fp32, AVX2 FMA: 2 cores x 3 GHz x 32 FLOP/cycle ~ 0.19 TFLOP/s). Its default MFU
is measured: one single-threaded train step of the quickstart's proxy (dense) and target
(MoE) models reached 11% and 15% of this 2-core peak on a busy machine, and a local run
keeps both cores busy with one job each, so 20%. Data only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    name: str
    peak_flops: float  # per device, FLOP/s
    default_mfu: float


DEVICES: dict[str, Device] = {
    "cpu": Device("cpu", 1.9e11, 0.20),
    "a100": Device("a100", 312e12, 0.40),
    "h100": Device("h100", 989e12, 0.40),
    "h200": Device("h200", 989e12, 0.40),
}
