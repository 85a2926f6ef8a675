"""The config's ``parity`` switch (docs/paper.md#deviations), parsed once into :class:`Parity`.

Plain Python: the workflow's config check reads it while Snakemake builds the DAG.
"""

from __future__ import annotations

from enum import StrEnum


class Parity(StrEnum):
    """``paper``: this project's behaviour, what the paper describes. ``official``: every deviation of
    docs/paper.md#deviations that can change a number switched back to the official code's behaviour.

    A :class:`str`: it compares equal to, formats and serialises as its value, so records written before it existed
    read the same."""

    PAPER = "paper"
    OFFICIAL = "official"

    @classmethod
    def parse(cls, value: str | Parity) -> Parity:
        """The member of ``value``; a ValueError naming the key and the choices otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"config: parity = {value!r} is not one of {', '.join(cls)}") from None

    @classmethod
    def of(cls, config: dict) -> Parity:
        """The ``parity`` of a config dict (the schema's default, ``paper``, when it has none)."""
        return cls.parse(config.get("parity", cls.PAPER))
