"""Reusable Transformer pieces. Each exists once; model families compose them."""
