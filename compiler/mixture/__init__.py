"""Mixture science: the constraint polytope, proxy designs, mixing laws and the solve.

Submodules are imported by what needs them (`mixture.constraints` for `mixc check`, pure
Python: it must not pull numpy, scipy or cvxpy); this package file imports nothing.
"""
