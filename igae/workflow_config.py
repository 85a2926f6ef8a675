"""Checks of config.yaml that a JSON schema cannot express, and names derived from it.

The schema (``workflow/schemas/config.schema.yaml``) checks keys and types; :func:`check_config` checks that the
names refer to each other correctly, before any job starts, with messages that say where and what to do.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from igae.latent_nerf.registry import METHODS  # plain data: no nerfstudio, no torch
from igae.sources.registry import scene_source  # the source modules are imported when a config names them


def runs_on_gpu(config: dict, cuda_available: bool) -> bool:
    """Whether the config's jobs run on a GPU: ``device: cuda``, or ``auto`` where a GPU is visible."""
    return config["device"] == "cuda" or (config["device"] == "auto" and cuda_available)


def skipped_methods(config: dict, cuda_available: bool) -> dict[str, str]:
    """{method: reason} for the benchmark's methods that cannot run on this machine: the GPU-only ones
    (:attr:`igae.latent_nerf.registry.Method.gpu_only`) on a CPU run, which skips them and says so in the tables."""
    if runs_on_gpu(config, cuda_available):
        return {}
    return {m: METHODS[m].gpu_only for m in benchmark_methods(config) if METHODS[m].gpu_only}


def benchmark_methods(config: dict) -> list[str]:
    """Every method the benchmark names, the main ones first, then those only the ablation uses."""
    bench = config["benchmark"]
    extra = bench.get("ablation", {}).get("methods", [])
    return list(dict.fromkeys([*bench["methods"], *extra]))


def benchmark_runs(config: dict) -> list[tuple[str, str]]:
    """(autoencoder, method) pairs of the latent runs: every main AE with every method, then each ablation
    variant with the ablation methods only (a variant per loss term times five methods would dwarf the rest)."""
    bench = config["benchmark"]
    ablation = bench.get("ablation", {"autoencoders": [], "methods": []})
    pairs = [(ae, method) for ae in bench["autoencoders"] for method in bench["methods"]]
    pairs += [(ae, method) for ae in ablation["autoencoders"] for method in ablation["methods"]]
    return list(dict.fromkeys(pairs))


class ConfigError(ValueError):
    """config.yaml is inconsistent; the message names the key at fault."""


CLAIM_ROLE_DEFAULTS = {"standard": "standard", "igae": "igae", "control": "control"}
"""The autoencoder each role of :mod:`igae.claims` defaults to, when ``benchmark.claims`` does not name one."""


def claim_roles(config: dict) -> dict[str, str | None]:
    """{"standard", "igae", "control"} -> the fitted autoencoder playing that role in :mod:`igae.claims`, or None.

    ``benchmark.claims.<role>`` names it; by default the AE of the same name (``standard`` falls back to the IG-AE's
    ``base`` when no AE is called ``standard``, e.g. ``ostris`` in config/paper.yaml). A role whose AE no NeRF is
    fitted with (neither in ``benchmark.autoencoders`` nor in ``benchmark.ablation.autoencoders``) is None: its claims
    are not tested. Naming an AE the config does not define is a :class:`ConfigError` naming the key.
    """
    autoencoders, bench = config["autoencoders"], config["benchmark"]
    given = bench.get("claims") or {}
    for role, name in given.items():
        if name is not None and name not in autoencoders:
            raise ConfigError(
                f"config: benchmark.claims.{role} = {name!r} names no autoencoder (known: {', '.join(autoencoders)})"
            )
    names = {role: given.get(role, default) for role, default in CLAIM_ROLE_DEFAULTS.items()}
    if "standard" not in given and names["standard"] not in autoencoders:
        names["standard"] = autoencoders.get(names["igae"], {}).get("base")
    fitted = {*bench["autoencoders"], *bench.get("ablation", {}).get("autoencoders", [])}
    return {role: name if name in fitted else None for role, name in names.items()}


def _check_training(where: str, spec: dict, parity: str = "paper") -> None:
    """Build the entry's training config now, so that a misspelt key fails before any job, not hours into one."""
    training = spec.get("training")
    if training is None or spec["kind"] == "pretrained":
        return
    try:
        if spec["kind"] == "igae":
            from igae.autoencoder_jobs import epochs_to_steps, igae_training_config

            igae_training_config(epochs_to_steps(training, 1, parity), "cpu", parity)
        else:
            from igae.ae_training import AETrainingConfig

            AETrainingConfig(**training)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}.training: {error}") from error


def _decodes_means(spec: dict) -> bool:
    """Whether an AE entry was trained here to decode posterior means (``sample_posterior: false``)."""
    return spec["kind"] == "trained" and spec.get("training", {}).get("sample_posterior") is False


def _check_posterior(where: str, spec: dict, base_name: str, base: dict, parity: str = "paper") -> None:
    """An IG-AE must train on the latent its base AE decodes: posterior samples of a base trained to decode posterior
    means are mostly noise (its posterior std stays the prior's; docs/paper.md#deviations). ``parity: official``
    trains on samples, as the official code."""
    posterior = "sample" if parity == "official" else spec.get("training", {}).get("posterior", "sample")
    if parity == "official" and _decodes_means(base):
        raise ConfigError(
            f"config: parity = 'official' trains {where.removeprefix('config: ')} on posterior samples (the official "
            f"code's mu_nerf: false), but its base {base_name!r} was trained to decode posterior means "
            f"(autoencoders.{base_name}.training.sample_posterior: false), so a sample is mostly noise. Keep parity: "
            "paper, or give it a base trained with sample_posterior: true (config/paper.yaml's Ostris VAE)"
        )
    if posterior == "sample" and _decodes_means(base):
        raise ConfigError(
            f"{where}.training.posterior = 'sample', but its base {base_name!r} was trained to decode posterior means "
            f"(autoencoders.{base_name}.training.sample_posterior: false), so its posterior std carries no meaning "
            "and a sample is mostly noise. Set posterior: mean, or train the base with sample_posterior: true"
        )


def _check_official_targets(config: dict) -> None:
    """``parity: official`` encodes each latent NeRF's targets as posterior samples: refuse an AE trained to decode
    means among the fitted ones (its samples are mostly noise)."""
    bench = config["benchmark"]
    for name in dict.fromkeys([*bench["autoencoders"], *bench.get("ablation", {}).get("autoencoders", [])]):
        spec = config["autoencoders"].get(name)
        if spec is not None and _decodes_means(spec):
            raise ConfigError(
                f"config: parity = 'official' encodes the latent NeRF targets as posterior samples (the official "
                f"extension's), but autoencoders.{name} was trained to decode posterior means "
                f"(autoencoders.{name}.training.sample_posterior: false), so its samples are mostly noise. Keep "
                "parity: paper, or fit only AEs trained with sample_posterior: true"
            )


def check_config_syntax(path: str | Path) -> None:
    """Parse a config file as YAML; a syntax error is a :class:`ConfigError` saying ``file:line:column: problem``
    (Snakemake's own message for it gives neither line nor column). A missing file is left to the caller."""
    import yaml

    try:
        yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = error.problem or error.context or "invalid YAML"
        raise ConfigError(f"{where}: {problem}") from None  # the message is the whole story
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: {error}") from error


def model_config_fields() -> dict[str, dict[str, list[str]]]:
    """{method: {model config class: the fields an override may set}}, latent class first: the classes the registry
    names, which ``benchmark.model.<method>`` overrides (:func:`igae.latent_nerf.method_configs.method_settings`
    builds them and applies the overrides to both).

    Imports the classes, hence nerfstudio's models: 0.7 s once torch is imported (which every caller has done).
    """
    import dataclasses
    import importlib
    import warnings

    fields = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # nerfstudio's, about torch.jit and torch.cuda.amp
        for name, method in METHODS.items():
            module = importlib.import_module(method.module)
            classes = [getattr(module, class_name) for class_name in (method.latent_config, method.rgb_config)]
            fields[name] = {
                cls.__name__: sorted(f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_"))
                for cls in classes
            }
    return fields


def _check_model_overrides(bench: dict) -> None:
    """Each key of ``benchmark.model.<method>`` must be a field of the method's latent and RGB model configs."""
    models = bench.get("model") or {}
    if not any(models.values()):
        return  # no override: no need for the classes
    classes = model_config_fields()
    for method, overrides in models.items():
        if method not in METHODS:
            raise ConfigError(f"config: benchmark.model.{method} names no method (known: {', '.join(METHODS)})")
        for key in overrides or {}:
            for class_name, fields in classes[method].items():
                if key not in fields:
                    close = difflib.get_close_matches(key, fields, n=1)
                    hint = f" (did you mean {close[0]}?)" if close else ""
                    raise ConfigError(f"config: benchmark.model.{method}.{key} is not a field of {class_name}{hint}")


def _check_pretrained(where: str, spec: dict) -> None:
    """``path`` is a local diffusers folder that exists now; ``hub_id`` is an owner/name id; exactly one is set."""
    path, hub_id = spec.get("path"), spec.get("hub_id")
    if bool(path) == bool(hub_id):
        raise ConfigError(
            f"{where}: a pretrained autoencoder needs exactly one of `path` (a local diffusers folder) or `hub_id` "
            "(owner/name on the Hugging Face hub)"
        )
    if path:
        folder = Path(path) / (spec.get("subfolder") or "")
        if not (folder / "config.json").is_file():
            problem = "has no config.json (not a diffusers folder)" if folder.is_dir() else "does not exist"
            raise ConfigError(
                f"{where}.path = {path!r}: {folder.absolute()} {problem}. A relative `path` is resolved against the "
                "working directory (the repository, unless snakemake -d names another); a hub id goes under `hub_id`"
            )
        return
    from igae.autoencoders import HUB_ID

    if not HUB_ID.fullmatch(hub_id):
        raise ConfigError(
            f"{where}.hub_id = {hub_id!r} is not a Hugging Face id (owner/name); a local folder goes under `path`"
        )


def _check_scene_sources(scenes: dict) -> None:
    """Each ``scenes.<name>`` entry passes its source's own check (:attr:`igae.sources.registry.SceneSource.check`:
    e.g. a local folder that must exist)."""
    for name, spec in scenes.items():
        try:
            source = scene_source(spec["source"])
            if source.check is not None:
                source.check(spec, f"config: scenes.{name}")
        except ValueError as error:
            raise ConfigError(str(error)) from None


def check_config(config: dict) -> None:
    """Check what the schema cannot: names that refer to each other, files that must exist, training and model keys
    (against the classes that take them). Raises :class:`ConfigError` naming the key at fault."""
    autoencoders, scenes, bench = config["autoencoders"], config["scenes"], config["benchmark"]
    parity = config.get("parity", "paper")
    if parity not in ("paper", "official"):  # the schema says so too; this covers configs checked without it
        raise ConfigError(f"config: parity = {parity!r} is not one of paper, official")
    _check_scene_sources(scenes)
    for name, spec in autoencoders.items():
        where = f"config: autoencoders.{name}"
        if spec["kind"] == "igae":
            base = spec.get("base")
            if base not in autoencoders:
                raise ConfigError(f"{where}.base = {base!r} names no autoencoder (known: {', '.join(autoencoders)})")
            if autoencoders[base]["kind"] == "igae":
                raise ConfigError(f"{where}.base = {base!r} is itself an IG-AE; chaining IG-AEs is not supported")
            if spec.get("scenes") not in scenes:
                raise ConfigError(
                    f"{where}.scenes = {spec.get('scenes')!r} names no dataset (known: {', '.join(scenes)})"
                )
            source = scenes[spec["scenes"]]["source"]
            if not scene_source(source).rig_units:
                raise ConfigError(
                    f"{where}.scenes = {spec['scenes']!r} is a {source!r} source, posed in its own units; the IG-AE's "
                    "Tri-Planes need scenes in the procedural camera rig's (procedural, mesh, srn, shapenet, "
                    "igae-data). Use it as a benchmark dataset instead"
                )
            _check_posterior(where, spec, base, autoencoders[base], parity)
            if spec["scenes"] in bench["datasets"]:
                raise ConfigError(
                    f"{where}.scenes = {spec['scenes']!r} is also a benchmark dataset: its views would be both IG-AE "
                    "training data and NeRF/AE test data. Give the benchmark held-out scenes"
                )
        _check_training(where, spec, parity)
        if spec["kind"] == "pretrained":
            _check_pretrained(where, spec)
    ablation = bench.get("ablation", {})
    extra = [method for method in ablation.get("methods", []) if method not in bench["methods"]]
    if extra:
        raise ConfigError(
            f"config: benchmark.ablation.methods lists {extra}, which benchmark.methods lacks: the main autoencoders "
            "must be fitted with every ablation method, so that ablation.csv compares like with like"
        )
    for key, names, known in (
        ("datasets", bench["datasets"], scenes),
        ("autoencoders", bench["autoencoders"], autoencoders),
        ("ablation.autoencoders", ablation.get("autoencoders", []), autoencoders),
    ):
        for name in names:
            if name not in known:
                raise ConfigError(
                    f"config: benchmark.{key} lists {name!r}, which is not defined (known: {', '.join(known)})"
                )
    if parity == "official":
        _check_official_targets(config)
    claim_roles(config)
    _check_model_overrides(bench)
    if config["image_size"] % 8:
        raise ConfigError(
            f"config: image_size = {config['image_size']} must be a multiple of 8 (the AE down-samples 8x)"
        )


if __name__ == "__main__":
    # python -m igae.workflow_config FILE...: file:line:column of a YAML syntax error in a --configfile file, which
    # Snakemake parses itself, before the Snakefile, and reports with neither file nor line.
    import sys

    for config_path in sys.argv[1:]:
        try:
            check_config_syntax(config_path)
        except ConfigError as error:
            sys.exit(str(error))
