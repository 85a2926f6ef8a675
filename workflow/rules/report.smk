"""From run folders to the paper's tables and figures."""


rule tables:
    """Long-format CSVs: AE reconstruction (Tab. 1), latent NVS (Tab. 2), timing (Tab. 5), ablation."""
    input:
        ae_eval=expand("results/ae_eval/{ae}.json", ae=list(AUTOENCODERS)),
        latent_runs=latent_runs(),
        rgb_runs=rgb_runs(),
    output:
        ae=report("results/tables/ae_reconstruction.csv", category="Tables"),
        nvs=report("results/tables/latent_nvs.csv", category="Tables"),
        timing=report("results/tables/timing.csv", category="Tables"),
        ablation=report("results/tables/ablation.csv", category="Tables"),
    params:
        skipped=SKIPPED_METHODS,
        ablation={"main": BENCH["autoencoders"], "variants": ABLATION_AES},
    log:
        "logs/tables.log",
    script:
        "../scripts/tables.py"


rule figure_qualitative:
    """GT / RGB NeRF / latent NeRF per AE, on the same eval views of the first benchmark scene."""
    input:
        latent_runs=latent_runs(),
        rgb_runs=rgb_runs(),
        datasets=expand("resources/scenes/{dataset}", dataset=BENCH["datasets"]),
    output:
        report("results/figures/qualitative.png", category="Figures"),
    log:
        "logs/figure_qualitative.log",
    script:
        "../scripts/figure_qualitative.py"
