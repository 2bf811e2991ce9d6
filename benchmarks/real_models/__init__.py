"""Measurements of real pretrained models that ship inside PyPI wheels (docs/real-models.md)."""
