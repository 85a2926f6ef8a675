"""Latent NeRFs (two stages) and RGB NeRFs, through the same harness (igae.nerf_fit); the GPU shares of every rule."""

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
ON_GPU = config["device"] == "cuda" or (config["device"] == "auto" and torch.cuda.is_available())


def gpu_share(rule_name):
    """The rule's share of one GPU (GPU_SHARE), or 0 when the jobs run on the CPU."""
    return GPU_SHARE[rule_name] if ON_GPU else 0


rule fit_latent_nerf:
    """Fit one nerfstudio method on one scene's latents, then align it in RGB; evaluate the final model."""
    input:
        dataset="resources/scenes/{dataset}",
        latents="results/latents/{ae}/{dataset}/{scene}.safetensors",
        ae="results/autoencoders/{ae}",
    output:
        run=directory("results/runs/latent/{ae}/{method}/{dataset}/{scene}"),
    params:
        schedule=lambda wc: method_schedule(wc.method),
        model=lambda wc: BENCH["model"].get(wc.method, {}),
        seed=BENCH["seed"],
        device=config["device"],
    log:
        "logs/fit_latent_nerf/{ae}/{method}/{dataset}/{scene}.log",
    benchmark:
        "benchmarks/fit_latent_nerf/{ae}/{method}/{dataset}/{scene}.tsv"
    threads: 1
    resources:
        runtime=600,  # minutes, for cluster executors
        mem_mb=4000,
        gpu_share=gpu_share("fit_latent_nerf"),
    script:
        "../scripts/fit_nerf.py"


rule fit_rgb_nerf:
    """Fit the same method on the same scene and split, in RGB space (the quality and speed reference)."""
    input:
        dataset="resources/scenes/{dataset}",
    output:
        run=directory("results/runs/rgb/{method}/{dataset}/{scene}"),
    params:
        schedule=lambda wc: method_schedule(wc.method),
        model=lambda wc: BENCH["model"].get(wc.method, {}),
        seed=BENCH["seed"],
        device=config["device"],
    log:
        "logs/fit_rgb_nerf/{method}/{dataset}/{scene}.log",
    benchmark:
        "benchmarks/fit_rgb_nerf/{method}/{dataset}/{scene}.tsv"
    threads: 1
    resources:
        runtime=600,  # minutes, for cluster executors
        mem_mb=4000,
        gpu_share=gpu_share("fit_rgb_nerf"),
    script:
        "../scripts/fit_nerf.py"
