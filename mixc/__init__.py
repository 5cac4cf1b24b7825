"""mixc: a declarative compiler for data-mixture experiments.

The package is three layers over a small shared core:

    mixc.spec       the .mix language (folder spec/): parse, check, format; needs lark only
    mixc.compiler   lowering to jobs, Snakemake, mixture laws, the CLI (folder compiler/)
    mixc.runtime    what jobs execute on workers: data, models, training (folder runtime/)
    mixc.*          (this folder) what all three share: pure Python, no numpy, no torch

This module imports nothing: `mixc check` pays only for what it uses.
"""
