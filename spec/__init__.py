"""The .mix language: grammar, AST, parser, checker, diagnostics and formatter.

Imports nothing from `compiler` or `runtime` and nothing heavy: `mixc check`
runs as a pre-commit hook.
"""
