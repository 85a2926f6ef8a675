"""The autoencoder kinds an ``autoencoders.<name>`` entry of config.yaml can name (``kind``), listed in
:data:`AE_KINDS`: one module each, which declares its part of the config schema, what the config check adds, the files
its job reads, whether the job trains, and holds that job (``build``), as a module-level ``KIND``
(:class:`igae.ae.kinds.kind.AutoencoderKind`).

Adding a kind ``foo``:

1. ``igae/ae/kinds/foo.py`` with its entry class and ``KIND = AutoencoderKind(name="foo", schema=..., entry=...,
   rule=..., inputs=..., build=...)``;
2. its ``KIND`` in :data:`AE_KINDS`;
3. its schema in ``workflow/schemas/config.schema.yaml``: ``$defs/foo_autoencoder`` (the module's ``schema``), ``foo``
   in the ``kind`` enum of ``autoencoders``, and its ``if``/``then`` line. ``tests/test_autoencoder_kinds.py`` fails
   until the file matches the modules, and prints the YAML to paste.

The workflow takes the rest from the kind: which rule builds it (:data:`igae.ae.kinds.kind.AE_RULES`), that job's
inputs, its threads and GPU share (whether it trains), whether its training curves are drawn, and the call of
``build`` (workflow/scripts/build_autoencoder.py, the rule's params as keyword arguments). The kind modules import no
torch (their jobs do, when they run): the Snakemake workflow reads them while it builds the DAG.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

from igae.ae.kinds import igae, pretrained, trained
from igae.ae.kinds.kind import AE_RULES, AutoencoderEntry, AutoencoderKind
from igae.parity import Parity

AE_KINDS: dict[str, AutoencoderKind] = {kind.name: kind for kind in (pretrained.KIND, trained.KIND, igae.KIND)}
"""``kind`` value -> its :class:`AutoencoderKind`, in the schema's order."""


def autoencoder_kind(name: str) -> AutoencoderKind:
    """The :class:`AutoencoderKind` of a ``kind`` value; ValueError naming the known ones for an unknown one."""
    if name not in AE_KINDS:
        raise ValueError(f"igae: autoencoder kind {name!r} is unknown (known: {', '.join(AE_KINDS)})")
    kind = AE_KINDS[name]
    if kind.name != name or kind.rule not in AE_RULES:
        raise RuntimeError(f"igae: AE_KINDS[{name!r}] is {kind.name!r}, built by {kind.rule!r} (rules: {AE_RULES})")
    return kind


def autoencoder_entry(spec: Mapping) -> AutoencoderEntry:
    """An entry of config.yaml with its ``name`` and the config's ``image_size`` (the rules' ``spec`` param), parsed
    into its kind's entry class; a ValueError naming a key its kind does not have (the schema refuses it first)."""
    kind = autoencoder_kind(spec["kind"])
    known = {f.name for f in fields(kind.entry)}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(
            f"config: autoencoders.{spec.get('name')}: {', '.join(unknown)} is not a key of a {kind.name!r} entry "
            f"(known: {', '.join(sorted(known - {'name', 'image_size'}))})"
        )
    return kind.entry(**spec)


def build_autoencoder(
    spec: dict,
    inputs: dict[str, str | Path],
    out_dir: str | Path,
    device: str = "cpu",
    log=print,
    use_shipped: bool = True,
    parity: Parity | str = Parity.PAPER,
    **params,
):
    """Write the AE folder of one entry (``spec``: the entry with its ``name`` and the config's ``image_size``, as the
    rules' ``spec`` param) from the files of its kind's ``inputs``; return its card. What the rules run."""
    entry = autoencoder_entry(spec)
    inputs = {name: Path(path) for name, path in inputs.items()}
    return AE_KINDS[entry.kind].build(entry, inputs, Path(out_dir), device=device, log=log, use_shipped=use_shipped,
                      parity=Parity.parse(parity), **params)  # fmt: skip
