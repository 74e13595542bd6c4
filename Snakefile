# The STBN reproduction workflow: a table of contents. The logic is in workflow/rules/common.smk and
# report_common.smk (with workflow/report/outputs.yaml: what the report builds), the steps in the other
# rules files; every step calls the `stbn` command line.
#
#   snakemake --cores 2                                     default: embedded data, CPU scale
#   snakemake --configfile workflow/presets/paper.yaml --profile slurm   the paper, on a GPU cluster
#
# See docs/workflow.md.

from snakemake.utils import min_version

min_version("9.0")


# config.yaml is the default; a --configfile (a preset, .test/config.yaml) replaces it whole
# rather than being merged into it, so no default experiment leaks into a preset's run.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report_common.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        evaluation_targets(),
        REPORT_TARGETS,
