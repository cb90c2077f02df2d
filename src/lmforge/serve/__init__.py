"""Serving: an OpenAI-compatible HTTP API, a web chat page and Prometheus metrics (``lmforge serve``)."""
