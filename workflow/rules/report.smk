# The paper's tables and figures: classical baselines measured on the same noisy frames, then tables
# (results/tables/<name>.{csv,md,tex}) and figures (results/figures/<name>.{png,pdf}) rebuilt from the
# per-frame metric files by `stbn table` / `stbn figure`, each in `snakemake --report` with a caption
# stating what was run. Which experiment feeds which output is data (workflow/report/outputs.yaml,
# read by report_common.smk); an output whose experiment is not in the config is not built.
# See docs/report.md.


# ------------------------------------------------------------------------------ rules
rule baseline:
    input:
        data=dataset_input,
    output:
        frames=f"{BASELINE_SRGB}/frames.csv",
        summary=f"{BASELINE_SRGB}/summary.json",
        samples=directory(f"{BASELINE_SRGB}/samples"),
    log:
        "logs/baseline/{method}/{dataset}/sigma{sigma}.log",
    benchmark:
        "results/benchmarks/baseline/{method}/{dataset}/sigma{sigma}.tsv"
    wildcard_constraints:
        method="|".join(BASELINE_METHODS),
    conda:
        "../../envs/stbn.yaml"
    threads: res("baseline", "threads")
    resources:
        mem_mb=res("baseline", "mem_mb"),
        runtime=res("baseline", "runtime"),
    params:
        data=lambda w: dataset_dir(w.dataset),
        noise=noise_args,
        out=lambda w, output: Path(output.summary).parent,
        max_frames=config["evaluation"]["max_frames"],
        samples=config["evaluation"]["samples"],
    shell:
        "OMP_NUM_THREADS=1 OPENCV_FOR_THREADS_NUM=1 stbn baseline --method {wildcards.method}"
        " --data {params.data:q} {params.noise} --out {params.out} --max-frames {params.max_frames}"
        " --samples {params.samples} --workers {threads} > {log} 2>&1"


use rule baseline as baseline_raw with:
    output:
        frames=f"{BASELINE_RAW}/frames.csv",
        summary=f"{BASELINE_RAW}/summary.json",
        samples=directory(f"{BASELINE_RAW}/samples"),
    log:
        "logs/baseline/{method}/{dataset}/iso{iso}.log",
    benchmark:
        "results/benchmarks/baseline/{method}/{dataset}/iso{iso}.tsv"
    wildcard_constraints:
        method="|".join(RAW_BASELINES),


rule import_published:
    input:
        checkpoint=lambda w: published()["checkpoint"],
    output:
        model=f"{PUBLISHED}/model.pt",
        config=f"{PUBLISHED}/config.json",
    log:
        "logs/import_published/sigma{sigma}.log",
    benchmark:
        "results/benchmarks/import_published/sigma{sigma}.tsv"
    localrule: True
    conda:
        "../../envs/stbn.yaml"
    threads: 1
    resources:
        mem_mb=GLUE_MEM_MB,
        runtime=GLUE_RUNTIME,
    params:
        out=lambda w, output: Path(output.model).parent,
    shell:
        "stbn import-published --checkpoint {input.checkpoint:q} --network srgb --sigma {wildcards.sigma}"
        " --out {params.out} > {log} 2>&1"


use rule evaluate as evaluate_published with:
    input:
        model=f"{PUBLISHED}/model.pt",
        data=dataset_input,
    output:
        frames=f"{EVAL_PUBLISHED}/frames.csv",
        summary=f"{EVAL_PUBLISHED}/summary.json",
        samples=directory(f"{EVAL_PUBLISHED}/samples"),
    log:
        "logs/evaluate/published/official/{dataset}/sigma{sigma}.log",
    benchmark:
        "results/benchmarks/evaluate/published/official/{dataset}/sigma{sigma}.tsv"


for _name in table_names():

    rule:
        name:
            f"table_{_name.replace('-', '_')}"
        input:
            table_spec(_name)[0],
        output:
            **{
                ext: report(
                    f"results/tables/{_name}.{ext}",
                    caption=f"../report/{_name}.rst",
                    category="Tables",
                    labels={"table": _name, "format": ext},
                )
                for ext in ("csv", "md", "tex")
            },
        log:
            f"logs/table/{_name}.log",
        benchmark:
            f"results/benchmarks/table/{_name}.tsv"
        localrule: True
        conda:
            "../../envs/stbn.yaml"
        threads: 1
        resources:
            mem_mb=GLUE_MEM_MB,
            runtime=GLUE_RUNTIME,
        params:
            args=table_spec(_name)[1],
            name=_name,
            out=lambda w, output: Path(output.csv).with_suffix(""),
            settings=caption_settings(_name),
        shell:
            "stbn table {params.name} {params.args} --out {params.out} > {log} 2>&1"


for _name in figure_names():

    rule:
        name:
            f"figure_{_name.replace('-', '_')}"
        input:
            figure_spec(_name)[0],
        output:
            **{
                ext: report(
                    f"results/figures/{_name}.{ext}",
                    caption=f"../report/{_name.partition('-')[0]}.rst",
                    category="Figures",
                    labels={"figure": _name, "format": ext},
                )
                for ext in ("png", "pdf")
            },
        log:
            f"logs/figure/{_name}.log",
        benchmark:
            f"results/benchmarks/figure/{_name}.tsv"
        localrule: True
        conda:
            "../../envs/stbn.yaml"
        threads: 1
        resources:
            mem_mb=GLUE_MEM_MB,
            runtime=GLUE_RUNTIME,
        params:
            args=figure_spec(_name)[1],
            name=_name.partition("-")[0],
            out=lambda w, output: Path(output.png).with_suffix(""),
            settings=caption_settings(_name),
        shell:
            "stbn figure {params.name} {params.args} --out {params.out} > {log} 2>&1"


# the default rule's report part: every table and figure this config can build
REPORT_TARGETS = [f"results/tables/{n}.{ext}" for n in table_names() for ext in ("csv", "md", "tex")] + [
    f"results/figures/{n}.{ext}" for n in figure_names() for ext in ("png", "pdf")
]
