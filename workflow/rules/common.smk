"""Config validation, names the wildcards may take, and the list of final outputs."""

import json

from snakemake.logging import logger
from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

# Plain Python only while Snakemake builds the DAG: no torch, no nerfstudio (the jobs import them).
from igae import layout  # noqa: E402
from igae.ae.kinds.registry import AE_KINDS  # noqa: E402
from igae.config import (  # noqa: E402
    ConfigError,
    autoencoder_entries,
    autoencoder_spec,
    bench_scenes,
    check_config,
    claim_roles,
    cuda_available,
    method_schedule,
    methods_run_here,
    runs_on_gpu,
    table_inputs,
)
from igae.parity import Parity  # noqa: E402

check_config(config)


CUDA = cuda_available(config["device"])  # False for device: cpu, without asking torch
NO_GPU = config["device"] == "cuda" and not CUDA
NO_GPU_MESSAGE = "config: device: cuda but no CUDA device is visible; use device: auto or cpu"
if NO_GPU:  # a dry run may plan a GPU run meant for another machine, or a cluster's nodes
    logger.warning(f"igae: {NO_GPU_MESSAGE} (a run here would stop before any job)")


onstart:
    # Snakemake calls this once the DAG is planned, before the first job, on a run that executes jobs (not -n, --unlock,
    # --report, --lint): device: cuda without a visible GPU stops it where the jobs would run here, not on a cluster
    # executor (--executor slurm, kubernetes: the nodes' GPUs count), nor for --touch.
    if NO_GPU and workflow.local_exec and not workflow.touch:
        raise ConfigError(NO_GPU_MESSAGE)


AUTOENCODERS = config["autoencoders"]
AE_ENTRIES = autoencoder_entries(config)  # each entry parsed once (igae/ae/kinds/)
AE_KIND = {name: AE_KINDS[entry.kind] for name, entry in AE_ENTRIES.items()}
TRAINING_CURVE_AES = [name for name, kind in AE_KIND.items() if kind.training_curves]  # igae_training.png
BENCH = config["benchmark"]
TABLE_INPUTS = table_inputs(config, CUDA)  # what `igae tables --config` reads too
SKIPPED_METHODS = TABLE_INPUTS.params["skipped"]
METHODS = methods_run_here(config, CUDA)
CLAIM_ROLES = claim_roles(config)
for method, reason in SKIPPED_METHODS.items():
    logger.warning(f"igae: skipping {method}: {reason}. The tables say so.")


def alternatives(names):
    return "|".join(names) if names else "(?!x)x"


wildcard_constraints:
    dataset=alternatives(config["scenes"]),
    ae=alternatives(AUTOENCODERS),
    method=alternatives(METHODS),
    scene=r"[A-Za-z0-9_\-]+",
    seed=r"\d+",


def spec_json(ae):
    """An autoencoder's config entry as JSON (autoencoder_spec): a param, so editing the entry re-runs what depends on
    it. Its job parses it (igae.ae.kinds.registry.autoencoder_entry) as AE_ENTRIES holds it."""
    return json.dumps(autoencoder_spec(config, ae), sort_keys=True)


def latent_runs():
    """Every latent fit of the benchmark that runs here, per scene and seed (igae.config.latent_run_dirs)."""
    return TABLE_INPUTS.files["latent_run_dirs"]


def rgb_runs():
    """Every RGB fit of the benchmark that runs here, per scene and seed."""
    return TABLE_INPUTS.files["rgb_run_dirs"]


def reported(file):
    """A table or figure of igae.layout.OUTPUTS as a rule's output: its path, flagged for the Snakemake report with
    its caption (workflow/report/, relative to the rule files) and category."""
    entry = layout.output(file)
    return report(entry.path, caption=f"../report/{entry.caption}", category=entry.category)


# Moved here from the rule files (rule files hold rules only; snakemake --lint).
REAL = layout.real_images(config)
FIGURE_SCENE = bench_scenes(config)[0]  # (dataset, scene): the first benchmark scene, the figures' scene


def built_by(rule_name):
    """The autoencoders whose kind the rule builds (AutoencoderKind.rule), for its {ae} wildcard."""
    return [name for name, kind in AE_KIND.items() if kind.rule == rule_name]


def ae_inputs(wc):
    """The files its kind's job reads (AutoencoderKind.inputs): the base AE, scenes, real images, a shipped checkpoint
    (replacing it re-runs the rule)."""
    return AE_KIND[wc.ae].inputs(AE_ENTRIES[wc.ae], config)


def ae_trains(wc):
    """Whether the job trains (AutoencoderKind.trains), rather than loading or copying weights."""
    return AE_KIND[wc.ae].trains(AE_ENTRIES[wc.ae], config)


def prepare_threads(wc):
    """Training runs first in the DAG, with nothing to share the cores with: every core a local run has (--cores);
    copying or loading needs one. A cluster job (submitted, or running on its node with `--cores all`) gets one, the
    same on both sides (the job's srun asks for its threads within the allocation): --set-threads for more."""
    if not ae_trains(wc) or workflow.non_local_exec or workflow.remote_exec:
        return 1
    return max(1, workflow.resource_settings.cores or 1)


# GPU shares. A job on the GPU holds `gpu_share` units of one GPU, GPU_SHARE_UNITS a whole one (Snakemake resources are
# integers). The local profile declares the machine's capacity (`resources: gpu_share: 100` per GPU), so the executor
# runs e.g. 4 latent fits at once on one GPU. Override one rule's share with Snakemake's set-resources (profile or
# command line): `--set-resources fit_latent_nerf:gpu_share=20` runs 5 latent fits per GPU. On the CPU (device cpu, or
# auto without a visible GPU) every share is 0: the cores alone limit the jobs.
GPU_SHARE_UNITS = 100
GPU_SHARE = {  # jobs per GPU = 100 // share
    # 8 latent fits per GPU: on an H200, 8 latent TensoRF fits at once gave 2.7x the steps per second of one (4: 2.1x),
    # 0.3 GB each (benchmarks/gpu_check.sh; a step renders one 16x16 latent image and is bound by kernel launches)
    "fit_latent_nerf": 12,
    "fit_rgb_nerf": 50,  # 2 RGB fits per GPU: not measured (4096 rays per step: 2 GB for TensoRF, 11 GB instant-ngp)
    "train_igae": 100,  # the IG-AE alone on its GPU
    "prepare_autoencoder": 100,  # training a standard AE alone (loading or copying one: 0)
    "encode_latents": 10,  # one scene's frames through the encoder
    "evaluate_autoencoder": 25,  # D(E(x)) of the benchmark scenes and the real test images
}
ON_GPU = runs_on_gpu(config, CUDA)


def gpu_share(rule_name):
    """The rule's share of one GPU (GPU_SHARE), or 0 when the jobs run on the CPU."""
    return GPU_SHARE[rule_name] if ON_GPU else 0


def slurm_gpus(uses_gpu=True):
    """The `gpu` resource: whole GPUs a job asks a cluster executor for (Slurm: sbatch --gpus=1), 1 for a job that opens
    the config's device when that device is a GPU (ON_GPU), else 0: a CPU configuration asks a cluster for no GPU."""
    return 1 if ON_GPU and uses_gpu else 0


PARITY = Parity.of(config)  # the schema's default: paper (docs/paper.md#deviations)
# Params set under `parity = official` only (`**PARITY_PARAMS`): switching parity re-runs the jobs whose numbers it
# changes, while `paper` records the same params as before the key existed (nothing re-runs).
PARITY_PARAMS = {} if PARITY == Parity.PAPER else {"parity": str(PARITY)}
IGAE_PARITY_PARAMS = {
    **PARITY_PARAMS,
    # the official split of the IG-AE's scenes needs their eval_fraction (the schema's default when unset)
    **({"scene_eval_fraction": lambda wc: config["scenes"][AUTOENCODERS[wc.ae]["scenes"]]["eval_fraction"]}
       if PARITY != Parity.PAPER else {}),
}
