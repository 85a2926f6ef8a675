"""Kind ``pretrained``: an AE trained elsewhere, loaded as it is from the Hugging Face hub (``hub_id``) or a local
diffusers folder (``path``): :func:`igae.autoencoder_jobs.prepare_pretrained` (paper: ``ostris/vae-kl-f8-d16``)."""

from __future__ import annotations

from pathlib import Path

from igae.autoencoder_kinds.registry import AutoencoderKind

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"const": "pretrained"},
        "hub_id": {"type": "string", "description": "Hugging Face id, e.g. ostris/vae-kl-f8-d16"},
        "path": {"type": "string", "description": "a local diffusers folder"},
        "subfolder": {"type": "string"},
        "latent_scale": {"type": "number", "exclusiveMinimum": 0, "description": "tanh normaliser scale (paper 0.02)"},
    },
}


def inputs(spec: dict, config: dict) -> dict[str, str]:
    """None: a hub id is no file, and a local folder is read as it is when the job runs."""
    return {}


def check(spec: dict, where: str, config: dict) -> None:
    """``path`` is a local diffusers folder that exists now; ``hub_id`` is an owner/name id; exactly one is set."""
    path, hub_id = spec.get("path"), spec.get("hub_id")
    if bool(path) == bool(hub_id):
        raise ValueError(
            f"{where}: a pretrained autoencoder needs exactly one of `path` (a local diffusers folder) or `hub_id` "
            "(owner/name on the Hugging Face hub)"
        )
    if path:
        folder = Path(path) / (spec.get("subfolder") or "")
        if not (folder / "config.json").is_file():
            problem = "has no config.json (not a diffusers folder)" if folder.is_dir() else "does not exist"
            raise ValueError(
                f"{where}.path = {path!r}: {folder.absolute()} {problem}. A relative `path` is resolved against the "
                "working directory (the repository, unless snakemake -d names another); a hub id goes under `hub_id`"
            )
        return
    from igae.autoencoders import HUB_ID

    if not HUB_ID.fullmatch(hub_id):
        raise ValueError(
            f"{where}.hub_id = {hub_id!r} is not a Hugging Face id (owner/name); a local folder goes under `path`"
        )


def build(spec: dict, inputs: dict[str, Path], out_dir: Path, device, log, use_shipped: bool, parity: str):
    """Load the AE and write it with its card (``use_shipped``: nothing is shipped)."""
    from igae.autoencoder_jobs import prepare_pretrained

    return prepare_pretrained(spec, out_dir, device=device, log=log, parity=parity)


KIND = AutoencoderKind(
    name="pretrained", schema=SCHEMA, rule="prepare_autoencoder", inputs=inputs, build=build, check=check
)
