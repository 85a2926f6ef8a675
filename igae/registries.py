"""The one lookup every registry of modules uses (scene sources, real-image sources, autoencoder kinds): a name maps
to the module that defines it, imported only when the name is used, so a registry costs no import at start-up."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def registered(modules: Mapping[str, str], name: str, attribute: str, what: str) -> Any:
    """``modules[name]``'s ``attribute`` (an object with a ``name``), checked to carry the name it is registered
    under. ValueError naming the known names for an unknown ``name`` (``what`` says what it is: "scene source")."""
    if name not in modules:
        raise ValueError(f"igae: {what} {name!r} is unknown (known: {', '.join(modules)})")
    entry = getattr(importlib.import_module(modules[name]), attribute)
    if entry.name != name:
        raise RuntimeError(f"igae: {modules[name]}.{attribute} is named {entry.name!r}, registered as {name!r}")
    return entry
