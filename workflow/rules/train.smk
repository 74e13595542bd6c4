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
