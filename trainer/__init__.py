"""A plain PyTorch library for the large-batch generalization experiments.

It imports nothing from the web side, so a notebook, a script or a worker can use it.
"""
