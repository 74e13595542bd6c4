"""Configuration, validation and path logic of the workflow (the rules files only declare steps).

The workflow config is validated twice before the DAG is built: its own keys against
workflow/schemas/config.schema.yaml, and every experiment x variant x noise level through
`stbn.config.load_config` -- the very call `stbn train --config BASE --set ...` makes (BASE: a preset
name or a file path), with the very `--set` list the training job gets. Any problem stops the run here
with one message per problem.
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

from stbn.config import ExperimentConfig, config_file, load_config
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
# An experiment's noise levels (`sigmas` or `isos`) are its evaluation levels. `pooling: per-level`
# trains one model per level (the model folder is the level, e.g. sigma30); `pooling: pooled` trains
# one model over all of them (folder `pooled`): sRGB with data.sigma the range [min, max] of the sigmas
# (unless the settings give data.sigma), raw with data.isos all the ISOs. Each model is trained once
# per seed of `seeds` (train.seed; default: the config's train.seed).
@dataclass(frozen=True)
class Job:
    """One training job: an experiment's variant at one model level (sigma<s>, iso<i> or pooled) and seed."""

    experiment: str
    variant: str
    level: str
    seed: int
    sets: tuple[str, ...]
    cfg: ExperimentConfig

    @property
    def key(self):
        return (self.experiment, self.variant, self.level, self.seed)


def experiment_kind(experiment):
    """`srgb` (the experiment lists sigmas) or `raw` (isos)."""
    return "srgb" if "sigmas" in config["experiments"][experiment] else "raw"


def pooling(experiment):
    """`per-level` or `pooled`: the experiment's `pooling`, by default per-level for sRGB, pooled for raw."""
    exp = config["experiments"][experiment]
    return exp.get("pooling", "per-level" if "sigmas" in exp else "pooled")


def experiment_levels(experiment):
    """The evaluated noise levels of an experiment: ['sigma10', ...] or ['iso1600', ...]."""
    exp = config["experiments"][experiment]
    return [f"sigma{s}" for s in exp["sigmas"]] if "sigmas" in exp else [f"iso{i}" for i in exp["isos"]]


def model_level(experiment, level):
    """The model folder that evaluation level `level` of an experiment reads: the level, or `pooled`."""
    return "pooled" if pooling(experiment) == "pooled" else level


def model_levels(experiment):
    return list(dict.fromkeys(model_level(experiment, level) for level in experiment_levels(experiment)))


def _flatten(settings, prefix=""):
    """{'model': {'srfe': False}} -> ['model.srfe=false'] (values as JSON, which stbn parses as YAML)."""
    out = []
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={json.dumps(value)}")
    return out


def _noise_data(exp, variant, level):
    """The data settings of a model level: one sigma or ISO, or all of them (pooled)."""
    if "sigmas" in exp:
        if level != "pooled":
            return {"sigma": int(level.removeprefix("sigma"))}
        given = [exp.get("settings", {}).get("data", {}), exp["variants"][variant].get("data", {})]
        return {} if any("sigma" in g for g in given) else {"sigma": [min(exp["sigmas"]), max(exp["sigmas"])]}
    return {"isos": exp["isos"] if level == "pooled" else [int(level.removeprefix("iso"))]}


def _job(name, exp, variant, level, seed):
    """Resolve and validate one training job exactly as `stbn train` will (seed None: the config's)."""
    data = {"train_root": dataset_dir(exp["train_data"])}
    if "val_data" in exp:
        data["val_root"] = dataset_dir(exp["val_data"])
    data.update(_noise_data(exp, variant, level))
    sets = _flatten(exp.get("settings", {})) + _flatten(exp["variants"][variant])
    sets += _flatten({"name": f"{name}-{variant}", "data": data})
    if seed is not None:
        sets.append(f"train.seed={seed}")
    cfg = load_config(exp["config"], sets)
    return Job(name, variant, level, cfg.train.seed, tuple(sets), cfg)


def _strip_source(message):
    """Drop load_config's `<base> with --set <all overrides>: ` prefix; keep a file error's own prefix."""
    head, sep, tail = message.partition(": ")
    return tail if sep and " with --set " in head else message


def _level_label(level):
    if level == "pooled":
        return ""
    return f" at sigma {level[5:]}" if level.startswith("sigma") else f" at ISO {level[3:]}"


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
            problems.append(
                f"{where}: give either sigmas (sRGB) or isos (raw), not {'both' if 'isos' in exp else 'neither'}"
            )
            continue
        try:
            if not config_file(exp["config"]).is_file():
                raise StbnError(f"{exp['config']}: config file not found")
        except StbnError as err:
            problems.append(f"{where}.config: {err}")
            continue
        for variant in exp["variants"]:
            for level in model_levels(name):
                label = f"{where}.variants.{variant}{_level_label(level)}"
                for seed in exp.get("seeds", [None]):
                    try:
                        job = _job(name, exp, variant, level, seed)
                    except StbnError as err:
                        problems.append(f"{label}: {_strip_source(str(err))}")
                        break
                    kind = experiment_kind(name)
                    if job.cfg.data.kind != kind:
                        problems.append(
                            f"{label}: its stbn config has data.kind {job.cfg.data.kind!r}, so give "
                            f"{'sigmas' if job.cfg.data.kind == 'srgb' else 'isos'}, not {'sigmas' if kind == 'srgb' else 'isos'}"
                        )
                        break
                    jobs[job.key] = job
    return jobs, problems


def _shared(jobs):
    """Each job's key -> the key of the first job (config order) with the same resolved training config
    (its name aside): identical variants of different experiments train one model and share it."""
    first, canonical = {}, {}
    for key, job in jobs.items():
        identity = json.dumps(job.cfg.model_dump(mode="json", exclude={"name"}), sort_keys=True)
        canonical[key] = first.setdefault(identity, key)
    return canonical


JOBS, _problems = _resolve_experiments()
_problems = _check_datasets() + _problems
if _problems:
    raise WorkflowError(
        "invalid workflow configuration ({} problem{}):\n  - {}".format(
            len(_problems), "s" * (len(_problems) > 1), "\n  - ".join(_problems)
        )
    )
CANONICAL = _shared(JOBS)


def seeds(experiment):
    """The training seeds of an experiment, in config order."""
    return list(dict.fromkeys(key[3] for key in JOBS if key[0] == experiment))


def job_for(wildcards):
    """The training job behind a training rule's wildcards (experiment, variant, level, seed)."""
    return JOBS[(wildcards.experiment, wildcards.variant, wildcards.level, int(wildcards.seed))]


def model_dir(experiment, variant, level, seed):
    """The folder of a model (level: its model level): the first identical job's, when one is shared."""
    e, v, lv, s = CANONICAL[(experiment, variant, level, seed)]
    return f"results/models/{e}/{v}/{lv}/seed{s}"


def shared_with(experiment, variant):
    """`<experiment>/<variant>` whose models this variant uses, or None when it trains its own."""
    owners = {CANONICAL[k][:2] for k in JOBS if k[:2] == (experiment, variant)}
    owner = next(iter(owners)) if len(owners) == 1 else None
    return None if owner in (None, (experiment, variant)) else "/".join(owner)


def names_of_kind(kind):
    """A regex matching the experiments of one kind (srgb | raw), or nothing if there are none."""
    return "|".join(e for e in sorted(config["experiments"]) if experiment_kind(e) == kind) or "(?!)"


def _names(key):
    return "|".join(sorted(config[key]))


wildcard_constraints:
    experiment=_names("experiments"),
    variant="|".join(sorted({v for e in config["experiments"].values() for v in e["variants"]})),
    dataset=_names("datasets"),
    sigma=r"\d+",
    iso=r"\d+",
    seed=r"\d+",
    level=r"sigma\d+|iso\d+|pooled",


# ------------------------------------------------------------------------------- input functions
def train_inputs(wildcards):
    """A training job reads its base config's file (a packaged preset's, or the user's), its validated
    datasets and its flow weights."""
    job = job_for(wildcards)
    exp = config["experiments"][job.experiment]
    inputs = {"config": str(config_file(exp["config"])), "train_data": dataset_flag(exp["train_data"])}
    if "val_data" in exp:
        inputs["val_data"] = dataset_flag(exp["val_data"])
    if job.cfg.flow.weights:
        inputs["weights"] = job.cfg.flow.weights
    return inputs


def train_sets(wildcards):
    """The `--set key=value` arguments of the training job, shell-quoted."""
    return " ".join(f"--set {shlex.quote(s)}" for s in job_for(wildcards).sets)


def eval_model(wildcards):
    """The model.pt an evaluation reads (its experiment's model at that level, pooled or not)."""
    level = f"sigma{wildcards.sigma}" if "sigma" in wildcards.keys() else f"iso{wildcards.iso}"
    model = model_dir(
        wildcards.experiment, wildcards.variant, model_level(wildcards.experiment, level), int(wildcards.seed)
    )
    return f"{model}/model.pt"


def dataset_input(wildcards):
    """The validation flag of the rule's `dataset` wildcard."""
    return dataset_flag(wildcards.dataset)


def noise_args(wildcards):
    """`--sigma S` (sRGB) or `--iso I` (raw) for `stbn evaluate`, from the rule's wildcards."""
    return f"--sigma {wildcards.sigma}" if "sigma" in wildcards.keys() else f"--iso {wildcards.iso}"


def eval_dir(experiment, variant, dataset, level, seed):
    """Evaluation folder of a model at evaluation level `level` (`sigma<s>` or `iso<i>`); a variant that
    shares another's model shares its evaluations too."""
    e, v, _, s = CANONICAL[(experiment, variant, model_level(experiment, level), seed)]
    return f"results/eval/{e}/{v}/{dataset}/{level}/seed{s}"


def eval_runs(experiment, variants=None, datasets=None, levels=None, seed_list=None):
    """(run label, eval folder) of every (variant, test dataset, level, seed) of an experiment, config order."""
    exp = config["experiments"][experiment]
    return [
        (f"{experiment}/{v}", eval_dir(experiment, v, d, level, s))
        for v in (variants or exp["variants"])
        for d in (datasets or exp["test_data"])
        for level in (levels or experiment_levels(experiment))
        for s in (seed_list or seeds(experiment))
    ]


def evaluation_targets():
    """Every evaluation the config asks for (shared ones once)."""
    return list(dict.fromkeys(f"{d}/summary.json" for e in config["experiments"] for _, d in eval_runs(e)))


def res(family, key):
    """A resource of a rule family (train | evaluate | baseline | data) from the config's `resources`."""
    return config["resources"][family][key]
