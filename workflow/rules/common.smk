"""Configuration, validation and path logic of the workflow (the rules files only declare steps).

The workflow config is validated twice before the DAG is built: its own keys against
workflow/schemas/config.schema.yaml, and every experiment x variant x noise level through
`stbn.config.load_config` -- the very call `stbn train --config BASE --set ...` makes, with the very
`--set` list the training job gets. Any problem stops the run here with one message per problem.
"""

import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from stbn.config import ExperimentConfig, load_config
from stbn.errors import StbnError

validate(config, "../schemas/config.schema.yaml")

# Rules call the `stbn` CLI. With --sdm conda it comes from envs/stbn.yaml; otherwise, when it is not
# on PATH, the one installed next to the Python running Snakemake (e.g. `.venv/bin/snakemake`).
if shutil.which("stbn") is None:
    os.environ.update(PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))

DATASETS_DIR = Path("resources/datasets")
EMBEDDED = ("embedded-srgb-train", "embedded-srgb-test", "embedded-raw")
# the real-video corpus (`stbn prepare corpus`): its sources are fetched by scripts/setup.sh
CORPUS = ("embedded-corpus-train", "embedded-corpus-heldout")
# where `download_pwcnet_weights` puts the PWC-Net weights (set flow.weights to it)
PWCNET_WEIGHTS = "resources/weights/pwcnet-default.pytorch"


# ---------------------------------------------------------------------------------------- datasets
def dataset_dir(dataset):
    """The folder of a dataset: the user's `path` for manual data, else resources/datasets/<name>."""
    return Path(config["datasets"][dataset].get("path") or DATASETS_DIR / dataset).as_posix()


def dataset_layout(dataset):
    """The catalog entry a dataset is laid out like (default: its own name)."""
    return config["datasets"][dataset].get("layout", dataset)


def names_with_source(source):
    """A regex matching the datasets of one source (matching nothing if there are none)."""
    names = [name for name, entry in config["datasets"].items() if entry["source"] == source]
    return "|".join(names) or "(?!)"


def catalog_url(layout):
    """The download URL of a catalog entry (imported only when a download job is planned)."""
    from stbn.data.catalog import get

    source = get(layout).source
    if not source.startswith(("http://", "https://")):
        raise WorkflowError(f"dataset layout {layout}: no download URL in the catalog ({source})")
    return source


def download_archive(dataset):
    """Where `download_dataset` puts a dataset's archive: resources/downloads/<dataset>/<file name>."""
    return f"resources/downloads/{dataset}/{Path(catalog_url(dataset_layout(dataset))).name}"


def catalog_sha256(layout, file):
    """The sha256 the catalog records for a downloaded file, or None (none is recorded yet)."""
    from stbn.data.catalog import get

    return get(layout).checksums.get(file)


def dataset_hint(dataset):
    """What to do when a dataset folder fails validation: where a manual dataset comes from."""
    if config["datasets"][dataset]["source"] != "manual":
        return f"{dataset_dir(dataset)} was made by this workflow: delete it and rerun to rebuild it"
    from stbn.data.catalog import get

    return (
        f"{dataset} ({dataset_layout(dataset)}) is a {get(dataset_layout(dataset)).source}; put it at "
        f"{dataset_dir(dataset)} or set datasets.{dataset}.path in the workflow config"
    )


def dataset_flag(dataset):
    """Written by `validate_dataset` once the folder passed `stbn validate-data`."""
    return f"results/datasets/{dataset}.validated"


def _check_datasets():
    problems = []
    for name, entry in config["datasets"].items():
        where = f"datasets.{name}"
        if entry["source"] == "embedded" and name not in EMBEDDED + CORPUS:
            problems.append(f"{where}: source embedded is only available for {', '.join(EMBEDDED + CORPUS)}")
        if entry["source"] != "manual" and "path" in entry:
            problems.append(f"{where}.path: only manual datasets take a path (this one is {entry['source']})")
        if "path" in entry and not Path(entry["path"]).is_dir():
            problems.append(f"{where}.path: {entry['path']} is not a folder")
    missing = [d for d in config.get("published", {}).get("test_data", []) if d not in config["datasets"]]
    if missing:
        problems.append(f"published.test_data: dataset(s) {', '.join(missing)} not defined under datasets")
    return problems


# ------------------------------------------------------------------------------------- experiments
@dataclass(frozen=True)
class Job:
    """One training job: an experiment's variant at one noise level (sRGB sigma, or raw: all ISOs)."""

    experiment: str
    variant: str
    sigma: int | None
    sets: tuple[str, ...]
    cfg: ExperimentConfig

    @property
    def level(self):
        """The model folder name: `sigma<s>` (sRGB) or `raw` (one model over the experiment's ISOs)."""
        return "raw" if self.sigma is None else f"sigma{self.sigma}"


def _flatten(settings, prefix=""):
    """{'model': {'srfe': False}} -> ['model.srfe=false'] (values as JSON, which stbn parses as YAML)."""
    out = []
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={json.dumps(value)}")
    return out


def _job(name, exp, variant, sigma):
    """Resolve and validate one training job exactly as `stbn train` will."""
    data = {"train_root": dataset_dir(exp["train_data"])}
    if "val_data" in exp:
        data["val_root"] = dataset_dir(exp["val_data"])
    if sigma is None:
        data["isos"] = exp["isos"]
    else:
        data["sigma"] = sigma
    sets = _flatten(exp.get("settings", {})) + _flatten(exp["variants"][variant])
    sets += _flatten({"name": f"{name}-{variant}", "data": data})
    cfg = load_config(exp["config"], sets)
    return Job(name, variant, sigma, tuple(sets), cfg)


def _strip_source(message, base):
    """Drop load_config's `<base> with --set <all overrides>: ` prefix; keep a file error's own prefix."""
    head, sep, tail = message.partition(": ")
    return tail if sep and head.startswith(f"{base} with --set ") else message


def _resolve_experiments():
    jobs, problems = {}, []
    for name, exp in config["experiments"].items():
        where = f"experiments.{name}"
        refs = [exp["train_data"], exp.get("val_data"), *exp["test_data"]]
        missing = sorted({d for d in refs if d is not None and d not in config["datasets"]})
        if missing:
            problems.append(f"{where}: dataset(s) {', '.join(missing)} not defined under datasets")
            continue
        if ("sigmas" in exp) == ("isos" in exp):
            problems.append(f"{where}: give either sigmas (sRGB) or isos (raw), not {'both' if 'isos' in exp else 'neither'}")
            continue
        for variant in exp["variants"]:
            for sigma in exp.get("sigmas", [None]):
                label = f"{where}.variants.{variant}" + ("" if sigma is None else f" at sigma {sigma}")
                try:
                    job = _job(name, exp, variant, sigma)
                except StbnError as err:
                    problems.append(f"{label}: {_strip_source(str(err), exp['config'])}")
                    continue
                kind = "srgb" if sigma is not None else "raw"
                if job.cfg.data.kind != kind:
                    problems.append(
                        f"{label}: its stbn config has data.kind {job.cfg.data.kind!r}, so give "
                        f"{'sigmas' if job.cfg.data.kind == 'srgb' else 'isos'}, not {'isos' if sigma is None else 'sigmas'}"
                    )
                    continue
                jobs[(name, variant, job.level)] = job
    return jobs, problems


JOBS, _problems = _resolve_experiments()
_problems = _check_datasets() + _problems
if _problems:
    raise WorkflowError(
        "invalid workflow configuration ({} problem{}):\n  - {}".format(
            len(_problems), "s" * (len(_problems) > 1), "\n  - ".join(_problems)
        )
    )


def job_for(wildcards):
    """The training job behind a rule's wildcards (sRGB: `sigma`; raw: no noise wildcard)."""
    sigma = wildcards.get("sigma")
    return JOBS[(wildcards.experiment, wildcards.variant, "raw" if sigma is None else f"sigma{sigma}")]


def _names(key):
    return "|".join(sorted(config[key]))


wildcard_constraints:
    experiment=_names("experiments"),
    variant="|".join(sorted({v for e in config["experiments"].values() for v in e["variants"]})),
    dataset=_names("datasets"),
    sigma=r"\d+",
    iso=r"\d+",


# ------------------------------------------------------------------------------- input functions
def train_inputs(wildcards):
    """A training job reads its base config file, its validated datasets and its flow weights."""
    job = job_for(wildcards)
    exp = config["experiments"][job.experiment]
    inputs = {"config": exp["config"], "train_data": dataset_flag(exp["train_data"])}
    if "val_data" in exp:
        inputs["val_data"] = dataset_flag(exp["val_data"])
    if job.cfg.flow.weights:
        inputs["weights"] = job.cfg.flow.weights
    return inputs


def train_sets(wildcards):
    """The `--set key=value` arguments of the training job, shell-quoted."""
    return " ".join(f"--set {shlex.quote(s)}" for s in job_for(wildcards).sets)


def dataset_input(wildcards):
    """The validation flag of the rule's `dataset` wildcard."""
    return dataset_flag(wildcards.dataset)


def noise_args(wildcards):
    """`--sigma S` (sRGB) or `--iso I` (raw) for `stbn evaluate`, from the rule's wildcards."""
    return f"--sigma {wildcards.sigma}" if "sigma" in wildcards.keys() else f"--iso {wildcards.iso}"


def eval_dir(experiment, variant, dataset, level):
    """Evaluation folder: level is `sigma<s>` (sRGB) or `iso<i>` (raw)."""
    return f"results/eval/{experiment}/{variant}/{dataset}/{level}"


def experiment_levels(experiment):
    """The evaluated noise levels of an experiment: ['sigma10', ...] or ['iso1600', ...]."""
    exp = config["experiments"][experiment]
    return [f"sigma{s}" for s in exp["sigmas"]] if "sigmas" in exp else [f"iso{i}" for i in exp["isos"]]


def eval_summaries(experiment, variants=None, datasets=None):
    """summary.json of every (variant, test dataset, level) of an experiment, in config order."""
    exp = config["experiments"][experiment]
    return [
        f"{eval_dir(experiment, v, d, level)}/summary.json"
        for v in (variants or exp["variants"])
        for d in (datasets or exp["test_data"])
        for level in experiment_levels(experiment)
    ]


def evaluation_targets():
    """Every evaluation the config asks for."""
    return [s for e in config["experiments"] for s in eval_summaries(e)]


REPORT_TARGETS = []  # report.smk extends this with the run's final tables and figures


def report_targets():
    """The final tables and figures, as registered by report.smk in REPORT_TARGETS."""
    return list(REPORT_TARGETS)


def final_targets():
    """The targets of the default rule: every evaluation and every report target."""
    return evaluation_targets() + report_targets()


def res(family, key):
    """A resource of a rule family (train | evaluate | baseline | data) from the config's `resources`."""
    return config["resources"][family][key]
