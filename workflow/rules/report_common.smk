# Functions of the report rules (report.smk): which experiment feeds which table or figure and with
# which `stbn table` / `stbn figure` arguments, read from workflow/report/outputs.yaml (data, not code),
# and the captions' description of what was run.

import yaml

BASELINE_METHODS = ("noisy", "bm3d", "nlm-opencv", "nlm-skimage")
RAW_BASELINES = ("noisy",)  # a raw capture has only its noisy input to compare with
BASELINE_SRGB = "results/baselines/{method}/{dataset}/sigma{sigma}"
BASELINE_RAW = "results/baselines/{method}/{dataset}/iso{iso}"
PUBLISHED = "results/models/published/official/sigma{sigma}"
EVAL_PUBLISHED = "results/eval/published/official/{dataset}/sigma{sigma}"
OUTPUTS = yaml.safe_load(Path(workflow.basedir, "workflow/report/outputs.yaml").read_text())
validate(OUTPUTS, "../schemas/outputs.schema.yaml")
# the frame size of the multiply-accumulate count in the variants table (DAVIS 480p)
MAC_FRAME_SIZE = (480, 854)
# tables, figures and the checkpoint import: glue run on the submit host (localrules), one thread;
# the largest is the visual figure at the paper preset (4 runs x 30 full-size float panels, ~2 GB)
GLUE_MEM_MB = 4000
GLUE_RUNTIME = 30


# ------------------------------------------------------------------------------ what to report
def output_spec(name):
    """The outputs.yaml stanza of table or figure `name` (a visual-<dataset> figure: `visual`'s)."""
    base = name.partition("-")[0] if name not in OUTPUTS["tables"] else name
    return OUTPUTS["tables"].get(base) or OUTPUTS["figures"][base]


def spec_experiments(spec):
    """The experiments an output reads, in config order ([] when its experiment is not configured)."""
    if "experiments" in spec:
        return [e for e in config["experiments"] if spec["experiments"] == "all" or experiment_kind(e) == "srgb"]
    return [spec["experiment"]] if spec.get("experiment") in config["experiments"] else []


def _first(spec, key, values):
    return values[:1] if spec.get(key) == "first" else values


def report_level(experiment):
    """The single level of one-level figures: sigma 30 (the paper's) if evaluated, else the first level."""
    levels = experiment_levels(experiment)
    return "sigma30" if "sigma30" in levels else levels[0]


def _selection(spec, experiment, dataset=None):
    """(variants, datasets, levels, seeds) of an experiment that an output reads."""
    exp = config["experiments"][experiment]
    datasets = [dataset] if dataset else _first(spec, "datasets", exp["test_data"])
    levels = [report_level(experiment)] if spec.get("level") == "report" else experiment_levels(experiment)
    return (_first(spec, "variants", list(exp["variants"])), datasets, levels, _first(spec, "seeds", seeds(experiment)))


def _labelled(run, path, owner):
    """`run=path` when the file belongs to another variant's shared model, else `path`."""
    return path if path.startswith(f"{owner}/{run}/") else f"{run}={path}"


def model_files(experiment, kind, variants, levels, seed_list):
    """log.csv | config.json | the training benchmark of each (variant, seed) at the models of `levels`."""
    files = []
    for v in variants:
        for lv in dict.fromkeys(model_level(experiment, level) for level in levels):
            for s in seed_list:
                folder = model_dir(experiment, v, lv, s)
                path = {
                    "log": f"{folder}/log.csv",
                    "config": f"{folder}/config.json",
                    "train-benchmark": folder.replace("results/models/", "results/benchmarks/train/", 1) + ".tsv",
                }[kind]
                owner = "results/benchmarks/train" if kind == "train-benchmark" else "results/models"
                files.append(_labelled(f"{experiment}/{v}", path, owner))
    return files


def eval_files(experiment, kind, variants, datasets, levels, seed_list):
    """frames.csv | samples/ of each evaluation, labelled with its run when shared."""
    name = {"frames": "frames.csv", "samples": "samples"}[kind]
    return [
        _labelled(run, f"{folder}/{name}", "results/eval")
        for run, folder in eval_runs(experiment, variants, datasets, levels, seed_list)
    ]


def baseline_files(experiment, kind, methods, datasets, levels):
    """frames.csv | samples/ of each baseline on an experiment's test datasets at its levels."""
    if experiment_kind(experiment) == "raw":
        methods = [m for m in methods if m in RAW_BASELINES]
    name = {"baseline-frames": "frames.csv", "baseline-samples": "samples"}[kind]
    return [f"results/baselines/{m}/{d}/{lv}/{name}" for m in methods for d in datasets for lv in levels]


def files_of(spec, kind, experiment, dataset=None):
    variants, datasets, levels, seed_list = _selection(spec, experiment, dataset)
    if kind in ("log", "config", "train-benchmark"):
        return model_files(experiment, kind, variants, levels, seed_list)
    if kind in ("frames", "samples"):
        return eval_files(experiment, kind, variants, datasets, levels, seed_list)
    return baseline_files(experiment, kind, spec.get("baselines", []), datasets, levels)


def published():
    """The published-checkpoint check (config key `published`: checkpoint, sigma, test_data), or None."""
    return config.get("published")


def published_frames():
    pub = published()
    if pub is None:
        return []
    return [f"{EVAL_PUBLISHED}/frames.csv".format(dataset=d, sigma=pub["sigma"]) for d in pub["test_data"]]


def _path(item):
    """The file of an input given as PATH or LABEL=PATH."""
    return item.partition("=")[2] or item


def variant_method(experiment, variant):
    """The method (`stbn` | `udvd`) of a variant's resolved training config."""
    return next(j.cfg.method for j in JOBS.values() if (j.experiment, j.variant) == (experiment, variant))


def paper_rows(spec, experiment):
    """{variant: the paper row it reproduces} by the output's `paper_method` (see outputs.yaml)."""
    rows = spec["paper_method"]
    variants = config["experiments"][experiment]["variants"]
    if isinstance(rows, dict):
        methods = {v: variant_method(experiment, v) for v in variants}
        return {v: rows[m] for v, m in methods.items() if m in rows}
    return {v: v if rows == "variant" else rows for v in variants}


def table_spec(name):
    """(input files, `stbn table` arguments) of table `name`."""
    spec = output_spec(name)
    inputs, args = [], []
    for e in spec_experiments(spec):
        frames = files_of(spec, "frames", e)
        inputs += frames + files_of(spec, "baseline-frames", e)
        variants = config["experiments"][e]["variants"]
        if "paper_method" in spec:
            args += [f"--paper-method {e}/{v}={row}" for v, row in paper_rows(spec, e).items()]
        if spec.get("models"):
            args += [f"--model {e}/{v}={model_dir(e, v, model_levels(e)[0], seeds(e)[0])}/model.pt" for v in variants]
    if spec.get("published") and published():  # the published checkpoint is an STBN
        inputs += published_frames()
        rows = spec["paper_method"]
        args.append(f"--paper-method published/official={rows['stbn'] if isinstance(rows, dict) else rows}")
    if spec.get("models"):
        args.append("--frame-size {} {}".format(*MAC_FRAME_SIZE))
    inputs = list(dict.fromkeys(inputs))
    files = [_path(i) for i in inputs] + [a.partition("=")[2] for a in args if a.startswith("--model ")]
    return files, f"--inputs {' '.join(inputs)} {' '.join(args)}".strip()


def table_names():
    return [n for n, spec in OUTPUTS["tables"].items() if spec_experiments(spec)]


def figure_spec(name):
    """(input files, `stbn figure` arguments) of figure `name` (`<figure>-<dataset>`: per dataset)."""
    spec = output_spec(name)
    dataset = name.partition("-")[2] or None
    args, files = [], []
    for option, kinds in spec.get("args", {}).items():
        values = [f for e in spec_experiments(spec) for kind in kinds for f in files_of(spec, kind, e, dataset)]
        args.append(f"{option} {' '.join(values)}")
        files += [_path(v) for v in values]
    return files, " ".join(args)


def figure_names():
    names = []
    for name, spec in OUTPUTS["figures"].items():
        experiments = spec_experiments(spec)
        if "experiment" in spec and not experiments:
            continue
        if spec.get("per_dataset"):
            names += [f"{name}-{d}" for e in experiments for d in config["experiments"][e]["test_data"]]
        else:
            names.append(name)
    return names


# ------------------------------------------------------------------------------ captions
def _seeds_text(experiment):
    s = seeds(experiment)
    return f"seed {s[0]}" if len(s) == 1 else f"seeds {', '.join(map(str, s))} (one model each; tables average them)"


def describe(experiment):
    """What an experiment ran, as reStructuredText for a caption: recipe, data, budget."""
    exp = config["experiments"][experiment]
    jobs = [j for j in JOBS.values() if j.experiment == experiment]
    cfg = jobs[0].cfg
    m, d, t, f = cfg.model, cfg.data, cfg.train, cfg.flow
    levels = ", ".join(map(str, exp.get("sigmas", exp.get("isos", []))))
    levels = f"sigma {levels}" if "sigmas" in exp else f"ISO {levels}"
    one = "one model over all of them" if pooling(experiment) == "pooled" else "one model per level"
    if pooling(experiment) == "pooled" and experiment_kind(experiment) == "srgb":
        one += f" (noise-conditional, trained on sigma {d.sigma_range[0]:g}-{d.sigma_range[1]:g})"
    shared = [
        f"``{v}`` is the model of ``{shared_with(experiment, v)}``"
        for v in exp["variants"]
        if shared_with(experiment, v)
    ]
    variants = "; ".join(f"``{v}``: {', '.join(_flatten(s)) or 'as above'}" for v, s in exp["variants"].items())
    distill = (
        f" with distillation (lambda {f.distill.lam:g} from step {f.distill.start_step})"
        if f.estimator == "pwcnet"
        else f" re-estimated on the pseudo-clean mean from step {f.distill.start_step}"
    )
    lines = [
        f"- **Run**: workflow config ``{', '.join(map(str, workflow.configfiles)) or 'config.yaml'}``, experiment "
        f"``{experiment}`` (stbn config ``{exp['config']}``), {levels}, {one}.",
        f"- **Model** (variant ``{jobs[0].variant}``): width {m.num_channels}, {m.num_resblocks} residual blocks, "
        f"BSA fusion {'on' if m.bsa_fusion else 'off'}, SRFE {'on' if m.srfe else 'off'}, {m.warp} warping, "
        f"flow ``{f.estimator}``{distill if f.distill.enabled else ''}.",
        f"- **Variants**: {variants}"
        + (f" ({'; '.join(shared)}: the same training config, trained once)" if shared else "")
        + ".",
        f"- **Budget**: {t.iterations} iterations of batch {d.batch_size} x {d.clip_length} frames of "
        f"{d.crop}x{d.crop}, "
        f"Adam lr {t.lr:g} (x{t.gamma:g} at {t.milestones or 'no milestone'}), {_seeds_text(experiment)}"
        + (", trained on one fixed noisy realisation of the test video" if d.fixed_noisy else "")
        + ".",
        f"- **Data**: trained on ``{exp['train_data']}``, tested on {', '.join(f'``{x}``' for x in exp['test_data'])} "
        f"(first {config['evaluation']['max_frames']} frames of each sequence, the paper's seed-0 noise).",
    ]
    return "\n".join(lines)


def caption_settings(name):
    """The caption's description of what table/figure `name` shows was run (rst bullet list)."""
    spec = output_spec(name)
    experiments = spec_experiments(spec)
    if not experiments:
        return f"- **Run**: {spec['run']}"
    lines = [describe(e) for e in experiments]
    if spec.get("baselines"):
        lines.append(
            f"- **Baselines**: {', '.join(spec['baselines'])} on the same noisy frames (``stbn baseline``), each "
            f"frame timed alone with one thread (OpenMP and OpenCV), {config['resources']['baseline']['threads']} "
            "frame(s) at a time, on the machine that ran the job, which other jobs of the run may have shared."
        )
    if spec.get("per_dataset"):
        lines.append(
            f"- **Sequences**: the first {config['evaluation']['samples']} of the test set by name "
            "(``evaluation.samples``), or all of them if it has fewer."
        )
    return "\n".join(lines)
