# Training: one job per (experiment, variant, model level, seed), where the model level is a sigma or
# an ISO (pooling: per-level) or `pooled` (one model over all the experiment's levels). The job's
# settings are the validated `--set` list (common.smk), so a changed setting retrains; identical jobs
# of different experiments are one job (common.smk: CANONICAL). `--resume` continues from the job's
# last.pt after a crash or a wall-time kill; a finished job removes its last.pt, so that a retrain
# after a settings change starts afresh (stbn refuses to resume a run with different settings).

MODEL = "results/models/{experiment}/{variant}/{level}/seed{seed}"


rule train:
    input:
        unpack(train_inputs),
    output:
        model=f"{MODEL}/model.pt",
        config=f"{MODEL}/config.json",
        history=f"{MODEL}/log.csv",
    log:
        "logs/train/{experiment}/{variant}/{level}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{experiment}/{variant}/{level}/seed{seed}.tsv"
    wildcard_constraints:
        experiment=names_of_kind("srgb"),
    # training jobs first: the long ones then overlap the short baselines and evaluations
    priority: 1
    conda:
        "../../envs/stbn.yaml"
    threads: res("train", "threads")
    resources:
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
        gpu=res("train", "gpu"),
    params:
        out=lambda w, output: Path(output.model).parent,
        sets=train_sets,
    shell:
        "stbn train --config {input.config:q} --out {params.out} {params.sets} --set train.threads={threads}"
        " --device auto --resume > {log} 2>&1 && rm -f {params.out}/last.pt"


use rule train as train_raw with:
    wildcard_constraints:
        experiment=names_of_kind("raw"),


# The start model of fitting (docs/fitting.md, "A pretrained start model"): the `cpu-start` preset on
# the corpus training clips (the preset names them). Not part of the default run: `snakemake --cores 2
# start_model --set-threads start_model=2` (about 55 minutes on 2 AVX-512 cores); `stbn denoise
# --checkpoint results/start/cpu-start/model.pt --fit-minutes M` then fits from it. Defined where the
# config declares the corpus training clips (the default config does).
START = "results/start/cpu-start"

if "embedded-corpus-train" in config["datasets"]:

    rule start_model:
        input:
            config=str(config_file("cpu-start")),
            train_data=dataset_flag("embedded-corpus-train"),
        output:
            model=f"{START}/model.pt",
            config=f"{START}/config.json",
            history=f"{START}/log.csv",
        log:
            "logs/start/cpu-start.log",
        benchmark:
            "results/benchmarks/start/cpu-start.tsv"
        conda:
            "../../envs/stbn.yaml"
        threads: res("train", "threads")
        resources:
            mem_mb=res("train", "mem_mb"),
            runtime=res("train", "runtime"),
            gpu=res("train", "gpu"),
        params:
            out=lambda w, output: Path(output.model).parent,
            data=dataset_dir("embedded-corpus-train"),
        shell:
            "stbn train --config {input.config:q} --out {params.out} --set data.train_root={params.data:q}"
            " --set train.threads={threads} --device auto --resume > {log} 2>&1 && rm -f {params.out}/last.pt"
