"""Mixture science: the constraint polytope, proxy designs, mixing laws and the solve.

Submodules are imported by what needs them (`compiler.mixture.polytope` for `mixc check`,
which must not pull cvxpy or scipy for plain bounds); this package file imports nothing.
"""
