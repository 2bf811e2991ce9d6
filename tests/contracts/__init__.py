"""Contract tests: one template per plug-in kind, parametrized over the kind's registry (see registries.py)."""
