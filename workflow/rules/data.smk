# Data: materialise the embedded datasets and the video corpus, fetch downloadable ones (sha256
# checked or, the first time, recorded), validate every dataset's layout. Training and evaluation depend on a dataset's validation
# flag, never on the bare folder. Downloads and validation run on the submit host (compute nodes often
# have no internet).


localrules:
    validate_dataset,
    download_dataset,
    unpack_dataset,
    download_pwcnet_weights,


rule prepare_embedded:
    output:
        directory(expand(f"{DATASETS_DIR}/{{dataset}}", dataset=EMBEDDED)),
    log:
        "logs/prepare_embedded.log",
    benchmark:
        "results/benchmarks/prepare_embedded.tsv"
    conda:
        "../../envs/stbn.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    params:
        out=lambda w, output: Path(output[0]).parent,
    shell:
        "stbn prepare embedded --out {params.out} > {log} 2>&1"


rule prepare_corpus:
    output:
        directory(expand(f"{DATASETS_DIR}/{{dataset}}", dataset=CORPUS)),
    log:
        "logs/prepare_corpus.log",
    benchmark:
        "results/benchmarks/prepare_corpus.tsv"
    conda:
        "../../envs/stbn.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    params:
        out=lambda w, output: Path(output[0]).parent,
    shell:
        "stbn prepare corpus --out {params.out} > {log} 2>&1"


rule validate_dataset:
    input:
        # manual datasets are checked where the user put them (no rule makes them)
        lambda w: [] if config["datasets"][w.dataset]["source"] == "manual" else dataset_dir(w.dataset),
    output:
        touch(dataset_flag("{dataset}")),
    log:
        "logs/validate_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/validate_dataset/{dataset}.tsv"
    conda:
        "../../envs/stbn.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    params:
        layout=lambda w: dataset_layout(w.dataset),
        path=lambda w: dataset_dir(w.dataset),
        hint=lambda w: dataset_hint(w.dataset),
    shell:
        "stbn validate-data --dataset {params.layout} --path {params.path:q} > {log} 2>&1"
        " || {{ echo {params.hint:q} >> {log}; exit 1; }}"


rule download_dataset:
    output:
        "resources/downloads/{dataset}/{archive}",
    log:
        "logs/download_dataset/{dataset}/{archive}.log",
    benchmark:
        "results/benchmarks/download_dataset/{dataset}/{archive}.tsv"
    wildcard_constraints:
        dataset=names_with_source("download"),
        archive=r"[^/]+",
    conda:
        "../../envs/stbn.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    params:
        url=lambda w: catalog_url(dataset_layout(w.dataset)),
        # checked against the catalog's sha256, else against <archive>.sha256 recorded beside the file
        # by the first download (which warns); workflow/scripts/download.py
        sha256=lambda w: catalog_sha256(dataset_layout(w.dataset), w.archive),
    script:
        "../scripts/download.py"


rule unpack_dataset:
    input:
        lambda w: download_archive(w.dataset),
    output:
        directory("resources/datasets/{dataset}"),
    log:
        "logs/unpack_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/unpack_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset=names_with_source("download"),
    conda:
        "../../envs/stbn.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    shell:
        "python -m zipfile -e {input} {output} > {log} 2>&1"


rule download_pwcnet_weights:
    output:
        PWCNET_WEIGHTS,
    log:
        "logs/download_pwcnet_weights.log",
    benchmark:
        "results/benchmarks/download_pwcnet_weights.tsv"
    conda:
        "../../envs/stbn.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    params:
        # the sniklaus port of the official Caffe weights (STBN_SPEC.md 5.1)
        url="http://content.sniklaus.com/github/pytorch-pwc/network-default.pytorch",
        # none published: the first download's is recorded beside the file (<file>.sha256), and warns
        sha256=None,
    script:
        "../scripts/download.py"
