"""The runtime's job kinds: which config class and which function each kind has.

A job module is imported only when a file asks for its kind (they pull zarr, tokenizers,
torch), so this table stays cheap to import. Adding a kind: its dataclass in `mixc.jobs`, a
`run(config)` function, and one line here.
"""

from __future__ import annotations

from mixc.jobfile import Kind
from mixc.jobs import EvalJob, PackJob, TokenizeJob, TokenizerJob, TrainJob

KINDS: dict[str, Kind] = {
    "tokenizer": Kind(TokenizerJob, "mixc.runtime.tokenizer:run"),
    "tokenize": Kind(TokenizeJob, "mixc.runtime.tokenize_job:run"),
    "train": Kind(TrainJob, "mixc.runtime.train:run"),
    "pack": Kind(PackJob, "mixc.runtime.packed:run"),
    "eval": Kind(EvalJob, "mixc.runtime.evaluate:run"),
}
