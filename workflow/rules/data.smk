# Data: materialise the embedded datasets, fetch downloadable ones, validate every dataset's layout.
# Training and evaluation depend on a dataset's validation flag, never on the bare folder. Downloads
# and validation run on the submit host (compute nodes often have no internet).

localrules:
    validate_dataset,
    download_dataset,
    unpack_dataset,
    download_pwcnet_weights,


rule prepare_embedded:
    output:
        directory(expand(f"{DATASETS_DIR}/{{dataset}}", dataset=EMBEDDED)),
    params:
        out=lambda w, output: Path(output[0]).parent,
    log:
        "logs/prepare_embedded.log",
    benchmark:
        "results/benchmarks/prepare_embedded.tsv"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    conda:
        "../../envs/stbn.yaml"
    shell:
        "stbn prepare embedded --out {params.out} > {log} 2>&1"


rule validate_dataset:
    input:
        # manual datasets are checked where the user put them (no rule makes them)
        lambda w: [] if config["datasets"][w.dataset]["source"] == "manual" else dataset_dir(w.dataset),
    output:
        touch(dataset_flag("{dataset}")),
    params:
        layout=lambda w: dataset_layout(w.dataset),
        path=lambda w: dataset_dir(w.dataset),
        hint=lambda w: dataset_hint(w.dataset),
    log:
        "logs/validate_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/validate_dataset/{dataset}.tsv"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    conda:
        "../../envs/stbn.yaml"
    shell:
        "stbn validate-data --dataset {params.layout} --path {params.path:q} > {log} 2>&1"
        " || {{ echo {params.hint:q} >> {log}; exit 1; }}"


rule download_dataset:
    output:
        directory("resources/downloads/{dataset}"),
    params:
        url=lambda w: catalog_url(dataset_layout(w.dataset)),
        file=lambda w: Path(catalog_url(dataset_layout(w.dataset))).name,
        layout=lambda w: dataset_layout(w.dataset),
    log:
        "logs/download_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/download_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset=names_with_source("download"),
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    conda:
        "../../envs/stbn.yaml"
    shell:
        # the archive's sha256 is checked against the catalog (logged for the run's record if unknown)
        "(mkdir -p {output}"
        " && curl -fL --retry 3 -o {output}/{params.file}.part {params.url:q}"
        " && mv {output}/{params.file}.part {output}/{params.file}"
        " && stbn validate-data --dataset {params.layout} --path {output}/{params.file}) > {log} 2>&1"


rule unpack_dataset:
    input:
        rules.download_dataset.output,
    output:
        directory("resources/datasets/{dataset}"),
    params:
        file=lambda w: Path(catalog_url(dataset_layout(w.dataset))).name,
    log:
        "logs/unpack_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/unpack_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset=names_with_source("download"),
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    conda:
        "../../envs/stbn.yaml"
    shell:
        "python -m zipfile -e {input}/{params.file} {output} > {log} 2>&1"


rule download_pwcnet_weights:
    output:
        PWCNET_WEIGHTS,
    params:
        # the sniklaus port of the official Caffe weights (STBN_SPEC.md 5.1); no published sha256
        url="http://content.sniklaus.com/github/pytorch-pwc/network-default.pytorch",
    log:
        "logs/download_pwcnet_weights.log",
    benchmark:
        "results/benchmarks/download_pwcnet_weights.tsv"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    conda:
        "../../envs/stbn.yaml"
    shell:
        "(curl -fL --retry 3 -o {output}.part {params.url} && mv {output}.part {output}"
        " && echo 'warning: no published sha256; recorded for this run:' && sha256sum {output}) > {log} 2>&1"
