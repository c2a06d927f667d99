"""Option choices read from a module only when click needs them (parsing that option, help).

The CLI is complete on import (`cli/__init__.py`), but a command's option may list values that
live in a heavy module (the twin's fault kinds, next to its aiohttp servers): `LazyChoice`
imports that module the first time click reads `choices`, so `run sync` never pays for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import click


class LazyChoice(click.Choice):  # type: ignore[type-arg]
    """`click.Choice(getattr(import_module(module), name))`, imported on first use."""

    def __init__(self, module: str, name: str) -> None:
        self._where = (module, name)
        self._loaded: tuple[Any, ...] | None = None
        super().__init__((), case_sensitive=True)

    @property  # type: ignore[override]
    def choices(self) -> Sequence[Any]:
        if self._loaded is None:
            module, name = self._where
            self._loaded = tuple(getattr(importlib.import_module(module), name))
        return self._loaded

    @choices.setter
    def choices(self, value: Sequence[Any]) -> None:
        pass  # click.Choice.__init__ sets the (empty) choices; the module's win
