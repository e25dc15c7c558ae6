"""chainrule's benchmarks against micrograd and PyTorch: ``python -m benchmarks`` (see README.md here).

Not a pass/fail test suite: it measures, in one run, each engine on each
workload in its own fresh process, and prints the figures and ratios.
"""
