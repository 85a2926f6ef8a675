"""Errors that name the fault, before any job, and never cost results (issue 10): each bad configuration or damaged
file the issue met, with the message it now gets."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from jsonschema import Draft202012Validator
from PIL import Image

from igae.ae.autoencoder import AutoencoderError, load_autoencoder, offline_cause
from igae.config import ConfigError, check_config, check_config_syntax
from igae.nerf.model_fields import MODEL_FIELDS
from igae.runtime import logged_job

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
TINY = yaml.safe_load((REPO / "tests" / "data" / "tiny_config.yaml").read_text())
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def tiny(**changes) -> dict:
    """A deep copy of the tiny config with top-level keys replaced."""
    return {**copy.deepcopy(TINY), **changes}


def snakemake(workdir: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """`snakemake -s Snakefile -d workdir args`; with ``config``, written to workdir/config.yaml and passed with
    --configfile. Returns the process, stdout and stderr joined in ``.stdout``."""
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        command += ["--configfile", str(workdir / "config.yaml")]
    return subprocess.run([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)


# 1. A failed job's log holds its traceback.


def test_a_failed_job_leaves_its_traceback_in_its_log(tmp_path):
    log_path, stderr = tmp_path / "logs" / "job.log", sys.stderr
    with pytest.raises(ValueError, match="boom"):  # still raised, for Snakemake to see the job fail
        with logged_job(log_path, threads=torch.get_num_threads()) as log:
            log("started")
            raise ValueError("boom")
    text = log_path.read_text()
    assert text.startswith("started\n") and "Traceback (most recent call last)" in text
    assert text.rstrip().endswith("ValueError: boom") and sys.stderr is stderr


# 2. Lists that name things hold each name once.


@pytest.mark.parametrize(
    "benchmark, where",
    [
        ({"datasets": ["heldout", "heldout"]}, "benchmark/datasets"),
        ({"methods": ["tensorf", "tensorf"]}, "benchmark/methods"),
        ({"autoencoders": ["standard", "igae", "standard"]}, "benchmark/autoencoders"),
        ({"ablation": {"autoencoders": ["igae", "igae"], "methods": ["tensorf"]}}, "benchmark/ablation/autoencoders"),
        ({"ablation": {"autoencoders": ["igae"], "methods": ["tensorf", "tensorf"]}}, "benchmark/ablation/methods"),
    ],
)
def test_a_name_listed_twice_is_rejected_by_the_schema(benchmark, where):
    config = tiny(benchmark={**TINY["benchmark"], **benchmark})
    errors = [
        ("/".join(map(str, e.absolute_path)), e.validator) for e in Draft202012Validator(SCHEMA).iter_errors(config)
    ]
    assert errors == [(where, "uniqueItems")]
    assert not list(Draft202012Validator(SCHEMA).iter_errors(TINY))


def test_a_duplicate_dataset_stops_snakemake_before_any_job(tmp_path):
    out = snakemake(tmp_path, "-n", config=tiny(benchmark={**TINY["benchmark"], "datasets": ["heldout", "heldout"]}))
    assert out.returncode != 0 and "has non-unique elements" in out.stdout, out.stdout[-3000:]
    assert "['benchmark']['datasets']" in out.stdout and not (tmp_path / "resources").exists()


# 3. Model overrides are fields of the method's model configs.


def test_a_misspelt_model_override_names_its_key_and_the_class():
    config = tiny()
    config["benchmark"]["model"]["tensorf"]["init_resolutoin"] = 32
    message = (
        "config: benchmark.model.tensorf.init_resolutoin is not a field of LatentTensoRFModelConfig "
        "(did you mean init_resolution?)"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(config)
    check_config(TINY)  # the right keys pass
    config["benchmark"]["model"] = {"tensorf": {}, "kplanes": {"num_sampels": 8}}
    with pytest.raises(ConfigError, match=r"benchmark\.model\.kplanes\.num_sampels is not a field of LatentKPlanes"):
        check_config(config)


def test_an_igae_sampling_the_posterior_of_a_base_trained_on_means_is_refused():
    """The IG-AE's latent is the one its base AE decodes (docs/paper.md#deviations): config.yaml pins `mean`."""
    config = tiny()
    config["autoencoders"]["standard"]["training"]["sample_posterior"] = False
    message = "autoencoders.igae.training.posterior = 'sample', but its base 'standard' was trained to decode"
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(config)
    config["autoencoders"]["igae"]["training"]["posterior"] = "mean"
    check_config(config)
    default = yaml.safe_load((REPO / "config.yaml").read_text())["autoencoders"]
    assert default["standard"]["training"]["sample_posterior"] is False
    assert {default[name]["training"]["posterior"] for name in ("igae", "control")} == {"mean"}


def test_the_model_config_classes_are_those_the_fits_use():
    """The classes the override check reads (igae.nerf.model_fields, without importing nerfstudio) are those
    method_settings builds, and every field it lists is one that method_settings accepts as an override."""
    from igae.nerf.method_configs import method_settings
    from igae.nerf.registry import METHODS

    fields = MODEL_FIELDS
    assert list(fields) == list(METHODS)
    for method in METHODS:
        latent, rgb = fields[method]
        model = method_settings("latent", method, 1.0).model
        assert type(model).__name__ == latent
        assert type(method_settings("rgb", method, 1.0).model).__name__ == rgb
        overrides = {name: getattr(model, name) for name in fields[method][latent] if name in fields[method][rgb]}
        method_settings("latent", method, 1.0, overrides)


# 4. The device: checked before the DAG runs, and never a reason to re-run finished jobs.


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_device_cuda_without_a_gpu_stops_the_run_before_any_job(tmp_path):
    """A run stops before any job; a dry run (which may plan a GPU run meant for another machine) warns."""
    message = "config: device: cuda but no CUDA device is visible; use device: auto or cpu"
    run = snakemake(tmp_path, "--cores", "1", config=tiny(device="cuda"))
    assert run.returncode != 0 and message in run.stdout, run.stdout[-3000:]
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()
    dry = snakemake(tmp_path, "-n", config=tiny(device="cuda"))
    assert dry.returncode == 0 and f"igae: {message} (a run here would stop before any job)" in dry.stdout


def test_changing_only_the_device_plans_no_job(tmp_path):
    """A finished run (every output made, then `--touch --forceall` records each job's metadata), then a dry run with
    another device value for the same hardware: nothing to do. When `device` was a param of the rules, changing it
    re-ran them, deleting their finished outputs first."""
    done, other = ("cuda", "auto") if torch.cuda.is_available() else ("cpu", "auto")
    plan = snakemake(tmp_path, "-n", config=tiny(device=done))
    assert plan.returncode == 0, plan.stdout[-3000:]
    outputs = re.findall(r"^    (?:output|benchmark): (.+)$", plan.stdout, flags=re.M)
    for path in (tmp_path / path for line in outputs for path in line.split(", ")):
        if path.suffix:  # a file; the rules' directory() outputs have no suffix
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)
    touched = snakemake(tmp_path, "--cores", "1", "--touch", "--forceall", config=tiny(device=done))
    assert touched.returncode == 0 and "not touched" not in touched.stdout, touched.stdout[-3000:]
    dry = snakemake(tmp_path, "-n", config=tiny(device=other))
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout, dry.stdout[-3000:]


# 5. A pretrained AE's `path` exists; a hub id only under `hub_id`.


def pretrained(**spec) -> dict:
    config = tiny()
    config["autoencoders"]["mine"] = {"kind": "pretrained", **spec}
    return config


def test_a_pretrained_path_must_be_a_diffusers_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the working directory, as Snakemake's -d sets it
    message = f"config: autoencoders.mine.path = 'vaes/my-vae': {tmp_path.resolve()}/vaes/my-vae does not exist."
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(pretrained(path="vaes/my-vae"))
    (tmp_path / "vaes" / "my-vae").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"my-vae has no config\.json \(not a diffusers folder\)"):
        check_config(pretrained(path="vaes/my-vae"))
    (tmp_path / "vaes" / "my-vae" / "config.json").write_text("{}")
    check_config(pretrained(path="vaes/my-vae"))


def test_a_hub_id_only_where_the_key_is_hub_id(tmp_path, monkeypatch):
    check_config(pretrained(hub_id="ostris/vae-kl-f8-d16"))
    with pytest.raises(ConfigError, match=r"autoencoders\.mine\.hub_id = './vaes/x' is not a Hugging Face id"):
        check_config(pretrained(hub_id="./vaes/x"))
    with pytest.raises(ConfigError, match=r"autoencoders\.mine: a pretrained autoencoder needs exactly one of"):
        check_config(pretrained(hub_id="ostris/vae-kl-f8-d16", path="vaes/my-vae"))
    monkeypatch.chdir(tmp_path)  # and a job given a `path` that has gone never asks the hub
    with pytest.raises(AutoencoderError, match=r"autoencoder folder vaes/my-vae \(`path`\) does not exist"):
        load_autoencoder("vaes/my-vae", key="path")


# 6. Offline, the cause comes first.


def test_an_offline_hub_id_says_offline_first(tmp_path):
    code = "from igae.ae.autoencoder import load_autoencoder; load_autoencoder('ostris/vae-kl-f8-d16', key='hub_id')"
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path))  # an empty hub cache
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode != 0 and last.startswith(
        "igae.ae.autoencoder.AutoencoderError: cannot download autoencoder 'ostris/vae-kl-f8-d16': no network "
        "(HF_HUB_OFFLINE=1 is set)"
    ), out.stderr[-3000:]


def test_an_unreachable_hub_is_found_in_the_error_chain(monkeypatch):
    import huggingface_hub.constants
    import requests

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        try:
            raise requests.ConnectionError("Max retries exceeded")
        except requests.ConnectionError:
            raise OSError("ostris/vae-kl-f8-d16 does not appear to have a file named config.json.")  # noqa: B904
    except OSError as error:
        assert offline_cause(error) == f"{huggingface_hub.constants.ENDPOINT} is unreachable: ConnectionError"
    assert offline_cause(OSError("does not appear to have a file named config.json.")) is None


# 7. An image that cannot be read is named.


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_a_truncated_scene_image_is_named(tmp_path):
    from igae.scenes.dataset_io import load_scene, write_scene

    images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)  # noise: a PNG of some size
    intrinsics = {"fl_x": 64.0, "fl_y": 64.0, "cx": 32.0, "cy": 32.0, "w": 64, "h": 64}
    folder = write_scene(tmp_path / "scene", images, np.tile(np.eye(4), (2, 1, 1)), intrinsics, 1, {})
    damaged = sorted((folder / "images").glob("*.png"))[1]
    truncate(damaged)
    with pytest.raises(OSError, match=rf"igae: cannot read image {re.escape(str(damaged))} \(OSError: .*truncated"):
        load_scene(folder)


def test_a_truncated_real_image_is_named(tmp_path):
    from igae.scenes.real_images import load_real_images

    (tmp_path / "train").mkdir()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for name in ("a.png", "b.png"):
        Image.fromarray(noise).save(tmp_path / "train" / name)
    truncate(tmp_path / "train" / "b.png")
    with pytest.raises(OSError, match=rf"cannot read image {re.escape(str(tmp_path / 'train' / 'b.png'))}"):
        load_real_images(tmp_path, "train")


# 8. A YAML syntax error says file, line and column.


def test_a_yaml_syntax_error_gives_file_line_and_column(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("image_size: 64\nbenchmark:\n  datasets: [heldout]\n  seed: 1: 2\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:4:10: mapping values are not allowed here")):
        check_config_syntax(path)
    check_config_syntax(REPO / "config.yaml")
    # a --configfile file: Snakemake parses it before the Snakefile, with a message naming no file; this names all
    out = subprocess.run([sys.executable, "-m", "igae.config", str(path)], capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.strip() == f"{path}:4:10: mapping values are not allowed here"


def test_a_yaml_syntax_error_in_the_default_config_stops_snakemake_with_its_line(tmp_path):
    (tmp_path / "config.yaml").write_text("image_size: 64\ndevice: cpu\n  scenes: {}\n")
    out = snakemake(tmp_path, "-n")  # no --configfile: the workdir's config.yaml, as `snakemake` in the repository
    assert out.returncode != 0 and "config.yaml:3:9: mapping values are not allowed here" in out.stdout, out.stdout
