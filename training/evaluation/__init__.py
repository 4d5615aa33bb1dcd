"""Evaluation and trust: metrics against baselines, resolution, consistency. No torch needed."""
