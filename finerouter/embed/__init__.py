"""Sentence embeddings: the offline MiniLM encoder by default, any local sentence-transformers model."""
