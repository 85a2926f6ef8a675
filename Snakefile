# igae-bench: the IG-AE paper's experiments as one Snakemake DAG.
#   snakemake --cores all                      default (offline, CPU) configuration
#   snakemake --cores all --configfile config/paper.yaml    the paper's scale (needs the network and a GPU)

# Each config file is complete: with --configfile, config.yaml is not loaded underneath it (no silent merging).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"



include: "workflow/rules/common.smk"
include: "workflow/rules/scenes.smk"
include: "workflow/rules/autoencoders.smk"
include: "workflow/rules/nerf.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
