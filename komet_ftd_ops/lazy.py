"""A package's names imported on first use (PEP 562): `from komet_ftd_ops.komet import
KometClient` still works, but importing the package (or one of its light modules) no longer
imports its heavy ones.

    __getattr__ = lazy_names(__name__, {"KometClient": "client", ...})

Each package keeps its names under `if TYPE_CHECKING:` imports too, for type checkers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `package.<where[name]>` for `name` when asked."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{module}", package), name)

    return __getattr__
