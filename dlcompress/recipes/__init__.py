"""The Python API; the CLI is a thin shell over these functions."""
