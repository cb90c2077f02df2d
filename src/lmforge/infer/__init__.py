"""Inference: the one generation engine used by sample, chat, the server and evaluation."""
