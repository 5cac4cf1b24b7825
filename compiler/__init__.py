"""The mixc compiler: lowers a checked spec to a job graph and a Snakemake workflow.

Imports `spec` (never the other way round) and never imports torch: `mixc check`
must stay fast enough for a pre-commit hook.
"""
