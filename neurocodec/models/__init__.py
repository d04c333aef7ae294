"""The neural networks: the learned intra codec (more to come)."""
