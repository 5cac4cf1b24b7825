"""Packing: how many of a search's proxy runs train together in one job, and which.

One small proxy alone leaves a device mostly idle, and each job pays a process start; the
runtime's kind `pack` (runtime/packed.py) trains several in one process with batched
kernels, each member writing exactly what its train job would, in its own folder named by
its own hash. The lowering (`compiler.lower`) puts a search's proxy runs, in order, into
packs of about `pack_size` members, and the budget (`compiler.budget`) schedules the same
packs, so `mixc check`, `mixc plan` and the workflow agree.

K, the members of a pack: the search's `pack` when the spec gives one (1: one job a run);
otherwise as many as keep every lane busy (the runs over the lanes that run side by side:
a CPU's `lanes`, or the budget's GPUs), at most `CPU_PACK` on a CPU (`benchmarks/packed.py`
measured the gain there), and on a GPU at most `GPU_PACK`, as many as fit in `GPU_SHARE` of
its memory (`compiler.memory.work_bytes` a member), and no more than bring a micro-step to
`GPU_STEP_FLOPS`: a model whose own micro-step is that large keeps a GPU busy alone (a
GPT-2-small proxy at 16k tokens a micro-step is 1.2e13 FLOPs, a pack of one), while a RegMix
1M-parameter one is a hundred times smaller. That figure is assumed, not measured: no GPU
has run a pack yet. Packs are as even as can be: 10 runs in packs of at most 8 are two of 5.
Pure Python; reads no file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from mixc.compiler.devices import DEVICES, Device
from mixc.compiler.memory import CUDA_DEVICE_MB, MB, work_bytes
from mixc.shape import size
from mixc.spec.experiment import Experiment, RecipeSpec

CPU_PACK = 8  # at most, on a CPU
GPU_PACK = 64  # at most, on a GPU
GPU_SHARE = 0.8  # of a GPU's memory, the rest for the allocator's fragmentation and the context
GPU_STEP_FLOPS = 1e13  # assumed: a pack's micro-step of this many FLOPs (34 ms on an H100 at 30%) hides launches

T = TypeVar("T")


def pack_size(requested: int, runs: int, device: Device, gpus: int, member_bytes: float, step_flops: float) -> int:
    """K for a search of `runs` proxies (the module's docstring says how); `member_bytes`: one
    member's state, activations and loss on the device (`memory.work_bytes`); `step_flops`:
    the FLOPs of one member's micro-step."""
    if requested:
        return max(1, min(requested, runs))
    side_by_side = gpus if device.gpu else device.lanes
    even = math.ceil(runs / max(1, side_by_side))
    if not device.gpu:
        return max(1, min(CPU_PACK, even))
    room = GPU_SHARE * device.memory_gb * 1e9 - CUDA_DEVICE_MB * MB
    busy = GPU_STEP_FLOPS / max(1.0, step_flops)
    return max(1, min(GPU_PACK, even, int(room // max(1.0, member_bytes)), int(busy)))


def search_pack(x: Experiment, vocab: int, recipe: RecipeSpec | None = None) -> int:
    """K for the experiment's search (it has one), on its budget's devices; `vocab`: the tokenizer's;
    `recipe`: the fidelity packed (default the search's recipe). A search in rounds packs within a
    round and fidelity: its `runs` proxies."""
    s, b = x.search, x.budget
    if s.online is not None:
        return 1  # DoReMi's and Aioli's runs adapt their own mixture from their own losses: each trains alone
    recipe = recipe or x.recipe(s.recipe)
    device = DEVICES[b.device if b else "cpu"]
    shape, micro = x.model(recipe.model).shape(vocab).resolved(), recipe.batch // recipe.accumulate
    step = size(shape).flops_per_token * micro * shape.seq_len
    return pack_size(s.pack, s.runs, device, b.gpus if b else 1, work_bytes(shape, micro, device.gpu, 1), step)


def packs(items: Sequence[T], k: int) -> list[Sequence[T]]:
    """`items` in order, cut into ceil(n / k) consecutive packs whose sizes differ by at most one."""
    n = len(items)
    count = math.ceil(n / k) if n else 0
    cuts = [round(i * n / count) for i in range(count + 1)] if count else [0]
    return [items[a:b] for a, b in zip(cuts, cuts[1:])]
