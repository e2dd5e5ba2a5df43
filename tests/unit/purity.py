"""Marks a unit test that can only run against the pure-Python build of a module.

Such a test counts calls by patching a module's functions: code compiled by mypyc (the opt-in
build, tests/integration/test_compiled_wheel.py runs the unit tests against it) binds its calls
when compiled, so a patch there sees nothing.
"""

from __future__ import annotations

from types import ModuleType

import pytest


def compiled(module: ModuleType) -> bool:
    """Whether module was imported from a compiled extension rather than its .py file."""
    return not str(module.__file__).endswith(".py")


def pure_only(module: ModuleType) -> pytest.MarkDecorator:
    """Skip the test where module is compiled (its calls cannot be patched there)."""
    return pytest.mark.skipif(
        compiled(module), reason=f"patches {module.__name__}, which is compiled here"
    )
