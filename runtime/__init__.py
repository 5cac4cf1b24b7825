"""What jobs execute on workers: tokenizers, token stores, the sampler, models, training.

Imports nothing from `spec` or `compiler`: a worker needs only torch, zarr,
tokenizers and transformers. Importing this package itself must stay cheap
(no torch at the top level) so that pure helpers such as the FLOPs formula can
be shared with the compiler.
"""
