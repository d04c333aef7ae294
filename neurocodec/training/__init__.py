"""Training pipelines for the learned parts (``neurocodec train ...``)."""
