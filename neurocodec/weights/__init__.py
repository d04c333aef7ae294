"""Shipped model weights (package data). See docs/training.md for how each file was trained."""
