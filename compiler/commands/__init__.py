"""One module per `mixc` subcommand.

Each module defines `HELP` (one line), `configure(parser)` and `run(args) -> int`.
Modules import only the standard library at top level; heavy imports (cvxpy,
numpy, networkx) happen inside `run`, on the path that needs them.
"""
