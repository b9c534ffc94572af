"""Datasets of labelled grasps: generation, on-disk store, and the torch Dataset for training."""
