"""Recipes shipped with dlcompress (YAML files): ``dlcompress recipes list``, ``dlcompress run NAME``."""
