"""One module per `mixc` subcommand.

Each module defines `configure(parser)` and `run(args) -> int`; its one-line help lives in
`compiler.cli.COMMANDS`, so `mixc --help` imports none of them.
Modules import only the standard library at top level; heavy imports (cvxpy,
numpy, cvxpy, snakemake) happen inside `run`, on the path that needs them.
"""
