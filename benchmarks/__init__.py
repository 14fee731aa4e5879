"""The benchmark suite behind ``nnqft bench``; installed as :mod:`nnqft_ppl.benchmarks`.

Each section module exposes ``figures(quick: bool) -> list[Figure]``; :mod:`.suite` runs them.
Nothing here asserts on timings: every figure is a ratio against a baseline measured in the
same run (the machines are noisy).
"""
