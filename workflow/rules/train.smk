# Training: one job per (experiment, variant, sigma) for sRGB; one per (experiment, variant) for raw,
# which trains a single model over the experiment's ISOs. The job's settings are the validated
# `--set` list (common.smk), so a changed setting retrains. `--resume` continues from the job's
# last.pt after a crash or a wall-time kill; a finished job removes its last.pt, so that a retrain
# after a settings change starts afresh (stbn refuses to resume a run with different settings).

MODEL_SRGB = "results/models/{experiment}/{variant}/sigma{sigma}"
MODEL_RAW = "results/models/{experiment}/{variant}/raw"


rule train:
    input:
        unpack(train_inputs),
    output:
        model=f"{MODEL_SRGB}/model.pt",
        config=f"{MODEL_SRGB}/config.json",
        history=f"{MODEL_SRGB}/log.csv",
    params:
        out=lambda w, output: Path(output.model).parent,
        sets=train_sets,
    log:
        "logs/train/{experiment}/{variant}/sigma{sigma}.log",
    benchmark:
        "results/benchmarks/train/{experiment}/{variant}/sigma{sigma}.tsv"
    threads: res("train", "threads")
    resources:
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
        gpu=res("train", "gpu"),
    conda:
        "../../envs/stbn.yaml"
    shell:
        "stbn train --config {input.config} --out {params.out} {params.sets} --set train.threads={threads}"
        " --device auto --resume > {log} 2>&1 && rm -f {params.out}/last.pt"


use rule train as train_raw with:
    output:
        model=f"{MODEL_RAW}/model.pt",
        config=f"{MODEL_RAW}/config.json",
        history=f"{MODEL_RAW}/log.csv",
    log:
        "logs/train/{experiment}/{variant}/raw.log",
    benchmark:
        "results/benchmarks/train/{experiment}/{variant}/raw.tsv"
