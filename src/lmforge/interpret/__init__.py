"""Interpretability: why a model predicted what it did (attributions, attention rollout, logit lens)."""
