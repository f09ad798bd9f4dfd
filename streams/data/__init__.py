"""Data shipped with the package: the bundled demo scenario (``koubei scenario``, fixed seed).

A package (not a bare folder) so that the wheel's package-data rules pick the files up.
"""
