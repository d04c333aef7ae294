"""The neural networks and their weights: each kind registered once in :mod:`.registry`."""
