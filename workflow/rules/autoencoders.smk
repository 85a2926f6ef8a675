"""Autoencoders (pretrained, trained here, IG-AE), their reconstruction quality, and the encoded latents."""


rule prepare_autoencoder:
    """An AE of its own (igae/ae/kinds/: pretrained, trained): load a pretrained AE (hub id or folder), copy
    a shipped checkpoint, or train a standard AE on real images."""
    input:
        unpack(ae_inputs),  # common.smk: the kind's inputs
    output:
        directory("results/autoencoders/{ae}"),
    wildcard_constraints:
        ae=alternatives(built_by("prepare_autoencoder")),
    params:
        spec=lambda wc: spec_json(wc.ae),
        use_shipped=config["use_shipped_checkpoints"],
        **PARITY_PARAMS,  # official: the tabulated background of the Ostris / SD VAEs
    log:
        "logs/prepare_autoencoder/{ae}.log",
    benchmark:
        "logs/benchmarks/prepare_autoencoder/{ae}.tsv"
    priority: 10  # on the critical path: the IG-AE starts from it
    threads: prepare_threads
    resources:
        runtime=240,  # minutes, for cluster executors
        mem_mb=4000,
        gpu_share=lambda wc: gpu_share("prepare_autoencoder") if ae_trains(wc) else 0,  # common.smk
        gpu=lambda wc: slurm_gpus(ae_trains(wc)),  # a cluster's GPU: training only
    script:
        "../scripts/build_autoencoder.py"


rule train_igae:
    """An AE fine-tuned from another one (igae/ae/kinds/: igae): the base AE trained jointly with latent
    Tri-Planes of the synthetic scenes (warm-up, then joint phase), or its shipped checkpoint, copied once its card's
    recipe, base AE and training data are checked against the config."""
    input:
        unpack(ae_inputs),  # common.smk: the kind's inputs
    output:
        directory("results/autoencoders/{ae}"),
    wildcard_constraints:
        ae=alternatives(built_by("train_igae")),
    params:
        spec=lambda wc: spec_json(wc.ae),
        use_shipped=config["use_shipped_checkpoints"],
        **IGAE_PARITY_PARAMS,
    log:
        "logs/train_igae/{ae}.log",
    benchmark:
        "logs/benchmarks/train_igae/{ae}.tsv"
    priority: 10  # the longest job: start it as soon as it can run
    threads: 1  # with 2 cores, the standard AE's NeRFs run beside it
    resources:
        runtime=2880,  # minutes, for cluster executors
        mem_mb=8000,
        gpu_share=lambda wc: gpu_share("train_igae"),  # GPU_SHARE in common.smk
        gpu=slurm_gpus(),
    script:
        "../scripts/build_autoencoder.py"


rule evaluate_autoencoder:
    """Reconstruction quality D(E(x)) on the benchmark scenes' views (synthetic) and the real test images."""
    input:
        ae="results/autoencoders/{ae}",
        scenes=expand("resources/scenes/{dataset}", dataset=BENCH["datasets"]),
        real=REAL,
    output:
        "results/ae_eval/{ae}.json",
    log:
        "logs/evaluate_autoencoder/{ae}.log",
    benchmark:
        "logs/benchmarks/evaluate_autoencoder/{ae}.tsv"
    threads: 1
    resources:
        runtime=60,  # minutes, for cluster executors
        mem_mb=4000,
        gpu_share=lambda wc: gpu_share("evaluate_autoencoder"),  # GPU_SHARE in common.smk
        gpu=slurm_gpus(),
    script:
        "../scripts/evaluate_autoencoder.py"


rule encode_latents:
    """Encode every frame of one scene once per AE; shared by every method fitted on it."""
    input:
        ae="results/autoencoders/{ae}",
        dataset="resources/scenes/{dataset}",
    output:
        "results/latents/{ae}/{dataset}/{scene}.safetensors",
    params:
        **PARITY_PARAMS,  # official: one posterior sample per frame instead of the mean
    log:
        "logs/encode_latents/{ae}/{dataset}/{scene}.log",
    benchmark:
        "logs/benchmarks/encode_latents/{ae}/{dataset}/{scene}.tsv"
    threads: 1
    resources:
        runtime=30,  # minutes, for cluster executors
        mem_mb=2000,
        gpu_share=lambda wc: gpu_share("encode_latents"),  # GPU_SHARE in common.smk
        gpu=slurm_gpus(),
    script:
        "../scripts/encode_latents.py"
