"""Benchmarks: generations per second (``python -m benchmarks.generation``)."""
