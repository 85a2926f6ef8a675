"""From run folders to the paper's tables and figures."""

# Light rules (CSV and PNG files from the tables and run folders) run where Snakemake runs, never as cluster jobs.
localrules:
    tables,
    figure_qualitative,
    claims,
    figure_convergence,
    figure_igae_training,
    summary,
    results_page,


rule tables:
    """Long-format CSVs: AE reconstruction (Tab. 1), latent NVS (Tab. 2), timing (Tab. 5), ablation."""
    input:  # common.smk: TABLE_INPUTS (write_tables' arguments by name), as `igae tables --config` reads them
        **TABLE_INPUTS.files,
    output:  # igae.layout.OUTPUTS written by this rule, by name (latent_nvs, ...): what igae.report.tables.write_tables writes
        **{entry.name: reported(entry.file) for entry in layout.written_by("tables")},
    params:
        **TABLE_INPUTS.params,
    log:
        "logs/tables.log",
    benchmark:
        "logs/benchmarks/tables.tsv"
    script:
        "../scripts/tables.py"


rule figure_qualitative:
    """GT / RGB NeRF / latent NeRF per AE, on the same eval views of the first benchmark scene."""
    input:
        latent_runs=latent_runs(),
        rgb_runs=rgb_runs(),
        datasets=[layout.scene_dataset(dataset) for dataset in BENCH["datasets"]],
    output:
        reported("qualitative.png"),
    log:
        "logs/figure_qualitative.log",
    benchmark:
        "logs/benchmarks/figure_qualitative.tsv"
    script:
        "../scripts/figure_qualitative.py"


rule claims:
    """Each claim of the paper per method, over paired (dataset, scene, seed) units: 90 % BCa interval, one-sided
    sign-flip p-value and verdict (igae.report.claims)."""
    input:
        nvs=layout.output("latent_nvs.csv").path,
        timing=layout.output("timing.csv").path,
    output:
        table=reported("claims.csv"),
        figure=reported("claims.png"),
    params:
        roles=CLAIM_ROLES,
    log:
        "logs/claims.log",
    benchmark:
        "logs/benchmarks/claims.tsv"
    script:
        "../scripts/claims.py"


rule figure_convergence:
    """Eval PSNR against training seconds, per method: latent runs (one colour per AE) beside RGB runs."""
    input:
        latent_runs=latent_runs(),
        rgb_runs=rgb_runs(),
    output:
        reported("convergence.png"),
    log:
        "logs/figure_convergence.log",
    benchmark:
        "logs/benchmarks/figure_convergence.tsv"
    script:
        "../scripts/figure_convergence.py"


rule figure_ae_reconstruction:
    """Real test images and eval views of the first benchmark scene, with each AE's reconstruction (Fig. 9)."""
    input:
        autoencoders=[layout.autoencoder(ae) for ae in AUTOENCODERS],
        real=REAL,
        dataset=layout.scene_dataset(FIGURE_SCENE[0]),
    output:
        reported("ae_reconstruction.png"),
    params:
        scene="{}/{}".format(layout.scene_dataset(FIGURE_SCENE[0]), FIGURE_SCENE[1]),
    log:
        "logs/figure_ae_reconstruction.log",
    benchmark:
        "logs/benchmarks/figure_ae_reconstruction.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=slurm_gpus(),  # it runs the autoencoders: a cluster job, with a GPU under device: cuda
    script:
        "../scripts/figure_ae_reconstruction.py"


rule figure_igae_training:
    """The IG-AE training curves (Tri-Plane fit, decoded renders, AE reconstruction) of every IG-AE kind AE."""
    input:
        autoencoders=[layout.autoencoder(ae) for ae in TRAINING_CURVE_AES],
    output:
        reported("igae_training.png"),
    log:
        "logs/figure_igae_training.log",
    benchmark:
        "logs/benchmarks/figure_igae_training.tsv"
    script:
        "../scripts/figure_igae_training.py"


rule summary:
    """The results section of the README, generated from the tables (igae summary): never copied by hand."""
    input:
        tables=[entry.path for entry in layout.tables()],
        figures=[entry.path for entry in layout.figures()],
    output:
        report(layout.SUMMARY, caption="../report/summary.rst", category="Summary"),
    params:
        tables=lambda wc, input: input.tables[0].rsplit("/", 1)[0],  # their folder, layout.TABLES
    log:
        "logs/summary.log",
    benchmark:
        "logs/benchmarks/summary.tsv"
    script:
        "../scripts/summary.py"


rule results_page:
    """One self-contained page (igae.report.results_page): the answer first (claims' verdicts and forest plot, PSNR mean ± std
    per method, the qualitative figure), then every table and figure under its caption (what each column is). The
    Snakemake report opens it in one click from its start page; any browser opens the file."""
    input:
        tables=[entry.path for entry in layout.tables()],
        figures=[entry.path for entry in layout.figures()],
    output:
        report(layout.RESULTS_PAGE, caption="../report/results_page.rst", category="Results"),
    log:
        "logs/results_page.log",
    benchmark:
        "logs/benchmarks/results_page.tsv"
    script:
        "../report/results_page.py"
