"""Guard for all kinds: every dlcompress module imports in a fresh interpreter. A plug-in module that fails to
import is invisible to the registries (their loaders skip ImportError), so its contract tests would silently
vanish; only a missing optional package (a backend that is not installed) is an acceptable reason."""

from __future__ import annotations

import re


def test_every_dlcompress_module_imports(discovery):
    problems = []
    for module, error in sorted(discovery["import_failures"].items()):
        missing = re.match(r"ModuleNotFoundError: No module named '([^'.]+)", error)
        if missing and missing.group(1) != "dlcompress":
            continue  # an optional backend that is not installed here
        problems.append(f"{module}: {error}")
    assert not problems, "\n".join(problems)
