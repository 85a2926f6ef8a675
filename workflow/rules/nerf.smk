"""Latent NeRFs (two stages) and RGB NeRFs, through the same harness (igae.nerf.fit).

A fit saves its eval renders losslessly (renders/eval.safetensors) and scores them (igae.nerf.scoring) into metrics.json.
After a change of the metric protocol (igae.metrics), re-score the runs instead of re-fitting them. Snakemake does not
see a re-score (it rewrites metrics.json inside a finished run folder), so force the rules that read the metrics:
    igae score results/runs/latent/*/*/*/*/seed* results/runs/rgb/*/*/*/seed*
    snakemake --cores all --forcerun tables figure_qualitative
"""


rule fit_latent_nerf:
    """Fit one nerfstudio method on one scene's latents, then align it in RGB; render and score the final model."""
    input:
        dataset="resources/scenes/{dataset}",
        latents="results/latents/{ae}/{dataset}/{scene}.safetensors",
        ae="results/autoencoders/{ae}",
    output:
        run=directory("results/runs/latent/{ae}/{method}/{dataset}/{scene}/seed{seed}"),
    params:
        schedule=lambda wc: method_schedule(config, wc.method),  # igae.config
        model=lambda wc: BENCH["model"].get(wc.method, {}),
        seed=lambda wc: int(wc.seed),
        **PARITY_PARAMS,  # official: the extension's post_quant_conv (frozen), unclamped decode, normaliser eps
    log:
        "logs/fit_latent_nerf/{ae}/{method}/{dataset}/{scene}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/fit_latent_nerf/{ae}/{method}/{dataset}/{scene}/seed{seed}.tsv"
    threads: 1
    resources:
        runtime=600,  # minutes, for cluster executors
        mem_mb=4000,
        gpu_share=gpu_share("fit_latent_nerf"),  # GPU_SHARE in common.smk
        gpu=slurm_gpus(),
    script:
        "../scripts/fit_nerf.py"


rule fit_rgb_nerf:
    """Fit the same method on the same scene and split, in RGB space (the quality and speed reference)."""
    input:
        dataset="resources/scenes/{dataset}",
    output:
        run=directory("results/runs/rgb/{method}/{dataset}/{scene}/seed{seed}"),
    params:
        schedule=lambda wc: method_schedule(config, wc.method),  # igae.config
        model=lambda wc: BENCH["model"].get(wc.method, {}),
        seed=lambda wc: int(wc.seed),
    log:
        "logs/fit_rgb_nerf/{method}/{dataset}/{scene}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/fit_rgb_nerf/{method}/{dataset}/{scene}/seed{seed}.tsv"
    threads: 1
    resources:
        runtime=600,  # minutes, for cluster executors
        mem_mb=4000,
        gpu_share=gpu_share("fit_rgb_nerf"),
        gpu=slurm_gpus(),
    script:
        "../scripts/fit_nerf.py"
