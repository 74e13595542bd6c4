# Evaluation by the paper's protocol (`stbn evaluate`): each model on each of its experiment's test
# datasets, per sigma (sRGB) or per ISO (raw), per training seed; a pooled model is evaluated at every
# level of its experiment. sRGB evaluations also write samples/: noisy | denoised | clean panels of the
# middle frame of the first `evaluation.samples` sequences (the visual comparison figure).

EVAL_SRGB = "results/eval/{experiment}/{variant}/{dataset}/sigma{sigma}/seed{seed}"
EVAL_RAW = "results/eval/{experiment}/{variant}/{dataset}/iso{iso}/seed{seed}"


rule evaluate:
    input:
        model=eval_model,
        data=dataset_input,
    output:
        frames=f"{EVAL_SRGB}/frames.csv",
        summary=f"{EVAL_SRGB}/summary.json",
        samples=directory(f"{EVAL_SRGB}/samples"),
    log:
        "logs/evaluate/{experiment}/{variant}/{dataset}/sigma{sigma}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{experiment}/{variant}/{dataset}/sigma{sigma}/seed{seed}.tsv"
    conda:
        "../../envs/stbn.yaml"
    threads: res("evaluate", "threads")
    resources:
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
        gpu=res("evaluate", "gpu"),
    params:
        data=lambda w: dataset_dir(w.dataset),
        noise=noise_args,
        out=lambda w, output: Path(output.summary).parent,
        max_frames=config["evaluation"]["max_frames"],
        samples=config["evaluation"]["samples"],
    shell:
        "stbn evaluate --checkpoint {input.model} --data {params.data:q} {params.noise} --out {params.out}"
        " --max-frames {params.max_frames} --samples {params.samples} --device auto > {log} 2>&1"


use rule evaluate as evaluate_raw with:
    output:
        frames=f"{EVAL_RAW}/frames.csv",
        summary=f"{EVAL_RAW}/summary.json",
    log:
        "logs/evaluate/{experiment}/{variant}/{dataset}/iso{iso}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{experiment}/{variant}/{dataset}/iso{iso}/seed{seed}.tsv"
