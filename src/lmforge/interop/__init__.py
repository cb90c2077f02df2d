"""Hugging Face / GGUF formats. The only place that knows other libraries' tensor names."""
