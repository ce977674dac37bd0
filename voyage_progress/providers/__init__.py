"""Batch APIs: the protocol the watcher needs, and one module per provider."""
