"""Memory: the bytes a train job needs, per process, summed from its config.

Bytes; P parameters, all experts counted; e the activations' element size, 4 on CPU (fp32),
2 on CUDA (bf16 autocast):

    state        16 P: fp32 weights, gradients and AdamW's two moments (no separate fp32
                 master copy: the weights are fp32 and autocast casts them), + 2 P of bf16
                 casts on CUDA, + 4 P of DDP gradient buckets with several processes
    checkpoints  16 P on the host: a resumed checkpoint read back whole (weights and moments,
                 12 P) while the model holds its own, or the model's state saved at the end (4 P)
    activations  saved for the backward pass at the micro-batch (t = micro_batch x seq_len
                 tokens), after Korthikanti et al. 2022 ("Reducing Activation Recomputation in
                 Large Transformer Models", sec. 4.1): s b h (34 + 5 a s / h) bytes a layer at
                 16 bits. These blocks have no dropout and a fused causal attention (SDPA keeps
                 its output and log-sum-exp, not the a s^2 scores), and a SwiGLU of width f, so
                 t (16 h + 8 f') bytes a layer at 16 bits (norms 4, qkv input 2, rotated q and k
                 4, v 2, attention output 2, MLP input 2 t h; gate/up 4, silu 2, product 2 t f');
                 f' = f dense, k f (+ f shared) for experts, which also keep the tokens' sorted
                 copies (8 k t h) and the router's fp32 logits and probabilities (8 t E); plus
                 the embedding output and the final norm (3 t h e)
    loss         `linear_cross_entropy`: three fp32 arrays of one chunk of logits (rows x V
                 <= 2^22 on CPU, 2^26 on CUDA), and the saved gradients t h e + V h 4
    tokens       the sampler's residency: each source up to `RESIDENT_TOKENS` (2 or 4 bytes a
                 token), plus two more while one is swapped (old buffer, chunks, new buffer):
                 (sources + 2) x 2^25 tokens, a bound, since the data is not read here
    evaluation   one evaluation set's windows, int64, read and stacked: 16 x eval_tokens bytes
    batch        the step's batch, int64: batch x (seq_len + 1) x 8
    process      `PROCESS_MB`, measured; on CUDA `CUDA_HOST_MB` more on the host, assumed

On CPU all of it is host memory; on CUDA state, activations and loss are on the GPU (with
`CUDA_DEVICE_MB` assumed for the context) and the rest on the host. Margins, floors and what a
job asks for are `compiler.resources`'s; how many proxies share a GPU, `compiler.packing`'s.
Pure Python; reads no file.
"""

from __future__ import annotations

from mixc.jobs import PackJob, TrainJob
from mixc.shape import ModelShape, size

MB = 1 << 20
PROCESS_MB = 330  # measured: peak RSS of a train job of a 1-layer, 32-wide model (imports alone: 228 MB)
EXPORT_MB = 64  # measured: importing transformers for the Hugging Face export adds 18 MB
CUDA_HOST_MB = 2048  # assumed: CUDA libraries and context on the host, inductor's compile workers
CUDA_DEVICE_MB = 1024  # assumed: the CUDA context and the caching allocator's slack, per GPU
RESIDENT_TOKENS = 1 << 25  # runtime.sampler.MixtureSampler's resident_tokens (a test keeps them equal)
LOSS_CHUNK = {False: 1 << 22, True: 1 << 26}  # runtime.models.loss: logits per chunk, CPU / CUDA


def activation_bytes(shape: ModelShape, tokens: int, element: int) -> float:
    """Activations one micro-batch of `tokens` tokens keeps for the backward pass (the
    module's docstring has the formula)."""
    h, f = shape.d_model, shape.ffn_hidden
    if shape.kind == "dense":
        width, routed = f, 0
    else:
        width = shape.top_k * f + (f if shape.shared_expert else 0)
        routed = 8 * shape.top_k * h + 8 * shape.experts + 2 * shape.rank
    per_layer = tokens * (16 * h + 8 * width + routed) * element / 2
    return shape.layers * per_layer + 3 * tokens * h * element


def loss_bytes(shape: ModelShape, tokens: int, element: int, cuda: bool) -> float:
    """`linear_cross_entropy`: one chunk of fp32 logits three times, and the saved gradients."""
    chunk = min(tokens * shape.vocab, LOSS_CHUNK[cuda])
    return 3 * 4 * chunk + tokens * shape.d_model * element + shape.vocab * shape.d_model * 4


def work_bytes(shape: ModelShape, micro_batch: int, cuda: bool, processes: int) -> float:
    """State, activations and loss of one model at `micro_batch` sequences: what sits on the
    GPU on CUDA (without the context)."""
    shape = shape.resolved()
    params = size(shape).total_params
    element = 2 if cuda else 4
    tokens = micro_batch * shape.seq_len
    state = 16 * params + (2 * params if cuda else 0) + (4 * params if processes > 1 else 0)
    return state + activation_bytes(shape, tokens, element) + loss_bytes(shape, tokens, element, cuda)


def train_bytes(job: TrainJob, cuda: bool, processes: int) -> tuple[float, float]:
    """(host, GPU) bytes of one process of a train job, before the margin."""
    shape = job.model.resolved()
    params = size(shape).total_params
    work = work_bytes(shape, job.micro_batch, cuda, processes)
    token_bytes = 2 if shape.vocab <= 1 << 16 else 4
    host = ((PROCESS_MB + (EXPORT_MB if job.export else 0) + (CUDA_HOST_MB if cuda else 0)) * MB
            + 16 * params  # checkpoints
            + (len(job.sources) + 2) * RESIDENT_TOKENS * token_bytes
            + 16 * job.eval_tokens * (job.eval_seq_len + 1) / job.eval_seq_len
            + 8 * job.batch_size * (shape.seq_len + 1))
    if not cuda:
        return host + work, 0.0
    return host, work + CUDA_DEVICE_MB * MB


def pack_bytes(pack: PackJob, cuda: bool) -> tuple[float, float]:
    """(host, GPU) bytes of a pack: its members' own, one process's overhead and one CUDA
    context, and the stacked copies `runtime.models.stacked` makes each step of the members'
    weights and gradients (8 P each, where the models are: the GPU on CUDA)."""
    host = gpu = 0.0
    for member in pack.members:
        h, g = train_bytes(member, cuda, 1)
        stacked = 8 * size(member.model.resolved()).total_params
        host += h + (0 if cuda else stacked)
        gpu += g + (stacked if cuda else 0)
    extra = len(pack.members) - 1  # processes and contexts counted once per member above
    return (host - extra * (PROCESS_MB + (CUDA_HOST_MB if cuda else 0)) * MB,
            gpu - extra * (CUDA_DEVICE_MB * MB if cuda else 0))
