"""Data loading, trainers, post-training and evaluation."""
