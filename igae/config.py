"""Checks of config.yaml that a JSON schema cannot express, and names derived from it.

The schema (``workflow/schemas/config.schema.yaml``) checks keys and types; :func:`check_config` checks that the
names refer to each other correctly, before any job starts, with messages that say where and what to do.
"""

from __future__ import annotations

import difflib
import glob
from dataclasses import dataclass
from pathlib import Path

from igae import layout
from igae.ae.kinds.kind import AutoencoderEntry
from igae.ae.kinds.registry import AE_KINDS, autoencoder_entry  # plain data: no torch
from igae.nerf.model_fields import MODEL_FIELDS  # plain data, kept equal to the classes by a test
from igae.nerf.registry import METHODS  # plain data: no nerfstudio, no torch
from igae.parity import Parity
from igae.scenes.sources.registry import scene_source  # the source modules are imported when a config names them


def cuda_available(device: str) -> bool:
    """``torch.cuda.is_available()``, asked only where it can matter: never for ``device: cpu``, nor on a machine with
    no GPU driver (no ``/proc/driver/nvidia``, ``/dev/nvidia*`` or ROCm's ``/dev/kfd``), where it is False. So building
    the DAG on a CPU machine imports no torch (about 2 s)."""
    if device == "cpu":
        return False
    if not (Path("/proc/driver/nvidia").exists() or glob.glob("/dev/nvidia[0-9]*") or Path("/dev/kfd").exists()):
        return False
    import torch  # a GPU driver is there: only torch can tell whether its CUDA build sees a device

    return torch.cuda.is_available()


def runs_on_gpu(config: dict, cuda_available: bool) -> bool:
    """Whether the config's jobs run on a GPU: ``device: cuda``, or ``auto`` where a GPU is visible."""
    return config["device"] == "cuda" or (config["device"] == "auto" and cuda_available)


def skipped_methods(config: dict, cuda_available: bool) -> dict[str, str]:
    """{method: reason} for the benchmark's methods that cannot run on this machine: the GPU-only ones
    (:attr:`igae.nerf.registry.Method.gpu_only`) on a CPU run, which skips them and says so in the tables."""
    if runs_on_gpu(config, cuda_available):
        return {}
    return {m: METHODS[m].gpu_only for m in benchmark_methods(config) if METHODS[m].gpu_only}


def benchmark_methods(config: dict) -> list[str]:
    """Every method the benchmark names, the main ones first, then those only the ablation uses."""
    bench = config["benchmark"]
    extra = bench.get("ablation", {}).get("methods", [])
    return list(dict.fromkeys([*bench["methods"], *extra]))


def methods_run_here(config: dict, cuda_available: bool) -> list[str]:
    """The benchmark's methods (:func:`benchmark_methods`) but those this machine skips (:func:`skipped_methods`)."""
    skipped = skipped_methods(config, cuda_available)
    return [method for method in benchmark_methods(config) if method not in skipped]


def benchmark_runs(config: dict) -> list[tuple[str, str]]:
    """(autoencoder, method) pairs of the latent runs: every main AE with every method, then each ablation
    variant with the ablation methods only (a variant per loss term times five methods would dwarf the rest)."""
    bench = config["benchmark"]
    ablation = bench.get("ablation", {"autoencoders": [], "methods": []})
    pairs = [(ae, method) for ae in bench["autoencoders"] for method in bench["methods"]]
    pairs += [(ae, method) for ae in ablation["autoencoders"] for method in ablation["methods"]]
    return list(dict.fromkeys(pairs))


def method_schedule(config: dict, method: str) -> dict:
    """The benchmark's two-stage schedule of ``method``: ``benchmark.schedule`` with the method's own
    ``schedule_overrides`` (slow CPU methods run fewer steps)."""
    bench = config["benchmark"]
    return {**bench["schedule"], **bench.get("schedule_overrides", {}).get(method, {})}


def bench_scenes(config: dict) -> list[tuple[str, str]]:
    """(dataset, scene) of every benchmark scene, in the config's order, from the config alone."""
    scenes = config["scenes"]  # each source names its scenes from its entry (SceneSource.scene_names)
    return [
        (dataset, scene)
        for dataset in config["benchmark"]["datasets"]
        for scene in scene_source(scenes[dataset]["source"]).scene_names(scenes[dataset])
    ]


def latent_run_dirs(config: dict, methods: list[str]) -> list[str]:
    """Every latent fit of :func:`benchmark_runs` with one of ``methods`` (those that run here), per scene and seed."""
    return [
        layout.latent_run(ae, method, dataset, scene, seed)
        for ae, method in benchmark_runs(config)
        if method in methods
        for dataset, scene in bench_scenes(config)
        for seed in config["benchmark"]["seeds"]
    ]


def rgb_run_dirs(config: dict, methods: list[str]) -> list[str]:
    """Every RGB fit of ``methods``, per scene and seed."""
    seeds = config["benchmark"]["seeds"]
    return [layout.rgb_run(m, dataset, scene, seed) for m in methods for dataset, scene in bench_scenes(config)
            for seed in seeds]  # fmt: skip


@dataclass(frozen=True)
class TableInputs:
    """The arguments of :func:`igae.report.tables.write_tables` but ``out_dir``, by its parameter names. The rule
    ``tables`` takes :attr:`files` as its inputs and :attr:`params` as its params, ``igae tables --config`` passes both:
    a table with new inputs is one more entry here and one more parameter of ``write_tables``."""

    files: dict[str, list[str]]
    """Lists of result files and folders (paths relative to the working directory): the rule's inputs."""
    params: dict
    """The other arguments (``skipped``, ``ablation``): the rule's params."""

    def arguments(self, root: str | Path = ".") -> dict:
        """``write_tables``' keyword arguments, the files under ``root``."""
        return {**{name: [Path(root) / path for path in paths] for name, paths in self.files.items()}, **self.params}


def table_inputs(config: dict, cuda_available: bool) -> TableInputs:
    """What the tables are written from, for this config on a machine with or without CUDA (:class:`TableInputs`)."""
    methods = methods_run_here(config, cuda_available)
    bench = config["benchmark"]
    return TableInputs(
        files={
            "ae_eval_files": [layout.ae_eval(name) for name in config["autoencoders"]],
            "latent_run_dirs": latent_run_dirs(config, methods),
            "rgb_run_dirs": rgb_run_dirs(config, methods),
        },
        params={
            "skipped": skipped_methods(config, cuda_available),
            "ablation": {"main": bench["autoencoders"], "variants": bench.get("ablation", {}).get("autoencoders", [])},
        },
    )


class ConfigError(ValueError):
    """config.yaml is inconsistent; the message names the key at fault."""


CLAIM_ROLE_DEFAULTS = {"standard": "standard", "igae": "igae", "control": "control"}
"""The autoencoder each role of :mod:`igae.report.claims` defaults to, when ``benchmark.claims`` does not name one."""


def claim_roles(config: dict) -> dict[str, str | None]:
    """{"standard", "igae", "control"} -> the fitted autoencoder playing that role in :mod:`igae.report.claims`, or
    None.

    ``benchmark.claims.<role>`` names it; by default the AE of the same name (``standard`` falls back to the IG-AE's
    ``base`` when no AE is called ``standard``, e.g. ``ostris`` in config/paper.yaml). A role whose AE no NeRF is fitted
    with (neither in ``benchmark.autoencoders`` nor in ``benchmark.ablation.autoencoders``) is None: its claims are not
    tested. Naming an AE the config does not define is a :class:`ConfigError` naming the key.
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


def autoencoder_entries(config: dict) -> dict[str, AutoencoderEntry]:
    """Every ``autoencoders.<name>`` entry parsed into its kind's entry class (with its name and the config's
    ``image_size``): what the workflow and the checks take. A key its kind lacks is a :class:`ConfigError`."""
    try:
        return {name: autoencoder_entry(autoencoder_spec(config, name)) for name in config["autoencoders"]}
    except ValueError as error:
        raise ConfigError(str(error)) from None


def autoencoder_spec(config: dict, name: str) -> dict:
    """An entry as the rules pass it (their ``spec`` param, JSON): the config's entry with its ``name`` and the config's
    ``image_size``."""
    return {"name": name, **config["autoencoders"][name], "image_size": config["image_size"]}


def _check_autoencoder(entry: AutoencoderEntry, entries: dict, config: dict, parity: Parity) -> None:
    """An ``autoencoders.<name>`` entry passes its kind's own check (:attr:`AutoencoderKind.check`: names of other
    entries, folders that must exist), and its ``training`` builds the kind's training config now, so that a misspelt
    key fails before any job, not hours into one."""
    kind, where = AE_KINDS[entry.kind], f"config: autoencoders.{entry.name}"
    try:
        if kind.check is not None:
            kind.check(entry, where, config, entries)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if kind.training_config is None:  # a kind that trains nothing has no training keys
        return
    try:
        kind.training_config(entry.training, parity)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}.training: {error}") from error


def _check_official_targets(config: dict, entries: dict[str, AutoencoderEntry]) -> None:
    """``parity: official`` encodes each latent NeRF's targets as posterior samples: refuse an AE trained to decode
    means among the fitted ones (its samples are mostly noise)."""
    bench = config["benchmark"]
    for name in dict.fromkeys([*bench["autoencoders"], *bench.get("ablation", {}).get("autoencoders", [])]):
        if name in entries and entries[name].decodes_means:
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


SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
"""The config's JSON schema, which the workflow validates every config against before any job."""


def load_config(path: str | Path) -> dict:
    """A config file as the workflow sees it: parsed (:func:`check_config_syntax`), validated against :data:`SCHEMA`
    with the schema's defaults filled in (by Snakemake's validator, as the workflow's), then :func:`check_config`.
    A schema violation is a :class:`ConfigError` naming the file and the key."""
    import yaml
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match
    from snakemake.utils import validate

    check_config_syntax(path)
    config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    error = best_match(Draft202012Validator(yaml.safe_load(SCHEMA.read_text())).iter_errors(config))
    if error is not None:  # Snakemake's own message prints the whole schema
        where = "/".join(map(str, error.absolute_path)) or "(top level)"
        raise ConfigError(f"{path}: {where}: {error.message}")
    validate(config, str(SCHEMA))  # fills in the defaults
    check_config(config)
    return config


def _check_model_overrides(bench: dict) -> None:
    """Each key of ``benchmark.model.<method>`` must be a field of the method's latent and RGB model configs."""
    models = bench.get("model") or {}
    classes = MODEL_FIELDS
    for method, overrides in models.items():
        if method not in METHODS:
            raise ConfigError(f"config: benchmark.model.{method} names no method (known: {', '.join(METHODS)})")
        for key in overrides or {}:
            for class_name, fields in classes[method].items():
                if key not in fields:
                    close = difflib.get_close_matches(key, fields, n=1)
                    hint = f" (did you mean {close[0]}?)" if close else ""
                    raise ConfigError(f"config: benchmark.model.{method}.{key} is not a field of {class_name}{hint}")


def _check_scene_sources(scenes: dict) -> None:
    """Each ``scenes.<name>`` entry passes its source's own check
    (:attr:`igae.scenes.sources.registry.SceneSource.check`: e.g. a local folder that must exist)."""
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
    try:  # the schema says so too; this covers configs checked without it
        parity = Parity.of(config)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    _check_scene_sources(scenes)
    entries = autoencoder_entries(config)
    for entry in entries.values():
        _check_autoencoder(entry, entries, config, parity)
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
    if parity == Parity.OFFICIAL:
        _check_official_targets(config, entries)
    claim_roles(config)
    _check_model_overrides(bench)
    if config["image_size"] % 8:
        raise ConfigError(
            f"config: image_size = {config['image_size']} must be a multiple of 8 (the AE down-samples 8x)"
        )


if __name__ == "__main__":
    # python -m igae.config FILE...: file:line:column of a YAML syntax error in a --configfile file, which
    # Snakemake parses itself, before the Snakefile, and reports with neither file nor line.
    import sys

    for config_path in sys.argv[1:]:
        try:
            check_config_syntax(config_path)
        except ConfigError as error:
            sys.exit(str(error))
