# Constants and functions of the report rules (report.smk): which experiment feeds which table or
# figure, their inputs and `stbn table` / `stbn figure` arguments, and the captions' run descriptions.

BASELINE_METHODS = ("noisy", "bm3d", "nlm-opencv", "nlm-skimage")
BASELINE_SRGB = "results/baselines/{method}/{dataset}/sigma{sigma}"
BASELINE_RAW = "results/baselines/{method}/{dataset}/iso{iso}"
PUBLISHED = "results/models/published/official/sigma{sigma}"
EVAL_PUBLISHED = "results/eval/published/official/{dataset}/sigma{sigma}"

# experiment name -> its role in the paper
REPORT_ROLES = {
    "table1": "main",
    "table2": "raw",
    "table3": "ablation",
    "table4": "train-on-test",
    "figure7": "alignment",
    "figure10": "distill-lambda",
}
# paper rows (stbn/report/paper.yaml) that an experiment's variants reproduce; table3 maps by variant
PAPER_ROWS = {"table1": "STBN", "table2": "STBN", "table4": "STBN_s"}
TABLE3_ROWS = ("propagation", "bsa", "srfe", "flow-refinement")
# the frame size of the multiply-accumulate count in the variants table (DAVIS 480p)
MAC_FRAME_SIZE = (480, 854)
# tables, figures and the checkpoint import: glue run on the submit host (localrules), one thread;
# the largest is the visual figure at the paper preset (4 runs x 30 full-size float panels, ~2 GB)
GLUE_MEM_MB = 4000
GLUE_RUNTIME = 30


# ------------------------------------------------------------------------------ what to report
def role(name):
    """The experiment that feeds table/figure `name`, or None when the config has none."""
    exp = REPORT_ROLES.get(name)
    return exp if exp in config["experiments"] else None


def report_sigma(experiment):
    """The noise level of single-level figures: 30 (the paper's) if trained, else the first sigma."""
    sigmas = config["experiments"][experiment]["sigmas"]
    return 30 if 30 in sigmas else sigmas[0]


def eval_frames(experiment, variants=None, datasets=None):
    """frames.csv of an experiment's evaluations (all variants, test datasets and levels by default)."""
    return [s.replace("summary.json", "frames.csv") for s in eval_summaries(experiment, variants, datasets)]


def baseline_frames(experiment, methods=BASELINE_METHODS):
    """frames.csv of each baseline on the experiment's test datasets at its noise levels."""
    exp = config["experiments"][experiment]
    return [
        f"results/baselines/{m}/{d}/{level}/frames.csv"
        for m in methods
        for d in exp["test_data"]
        for level in experiment_levels(experiment)
    ]


def published():
    """The published-checkpoint check (config key `published`: checkpoint, sigma, test_data), or None."""
    return config.get("published")


def published_frames():
    pub = published()
    if pub is None:
        return []
    return [f"{EVAL_PUBLISHED}/frames.csv".format(dataset=d, sigma=pub["sigma"]) for d in pub["test_data"]]


def srgb_experiments():
    return [e for e, exp in config["experiments"].items() if "sigmas" in exp]


def model_file(experiment, variant):
    """model.pt of a variant (sRGB: at its first sigma; the architecture is the same at every sigma)."""
    exp = config["experiments"][experiment]
    level = f"sigma{exp['sigmas'][0]}" if "sigmas" in exp else "raw"
    return f"results/models/{experiment}/{variant}/{level}/model.pt"


def table_spec(name):
    """(inputs, extra `stbn table` arguments) of table `name`."""
    if name == "variants":
        inputs = [f for e in srgb_experiments() for f in eval_frames(e)]
        models = [f"{e}/{v}={model_file(e, v)}" for e in srgb_experiments()
                  for v in config["experiments"][e]["variants"]]
        args = " ".join(f"--model {m}" for m in models) + " --frame-size {} {}".format(*MAC_FRAME_SIZE)
        return inputs + [m.split("=", 1)[1] for m in models], inputs, args
    exp = role(name)
    variants = config["experiments"][exp]["variants"]
    inputs = eval_frames(exp)
    if name == "table3":
        rows = {f"{exp}/{v}": v for v in variants if v in TABLE3_ROWS}
    else:
        rows = {f"{exp}/{v}": PAPER_ROWS[name] for v in variants}
        inputs += baseline_frames(exp, BASELINE_METHODS if name != "table2" else ("noisy",))
    if name == "table1" and published():
        inputs += published_frames()
        rows["published/official"] = "STBN"
    args = " ".join(f"--paper-method {run}={row}" for run, row in rows.items())
    return inputs, inputs, args


def table_names():
    names = [n for n in ("table1", "table2", "table3", "table4") if role(n)]
    return names + (["variants"] if srgb_experiments() else [])


def figure_spec(name, dataset=None):
    """(inputs, `stbn figure` arguments) of figure `name` (visual: per test dataset)."""
    if name == "figure4":
        return [], ""
    if name == "figure7":
        exp = role("figure7")
        level = f"sigma{report_sigma(exp)}"
        logs = [f"results/models/{exp}/{v}/{level}/log.csv" for v in config["experiments"][exp]["variants"]]
        return logs, "--inputs " + " ".join(logs)
    if name == "figure10":
        exp = role("figure10")
        runs = [(exp, v) for v in config["experiments"][exp]["variants"]]
        sigma = report_sigma(exp)
        dataset = config["experiments"][exp]["test_data"][0]
        frames = [f"{eval_dir(e, v, dataset, f'sigma{sigma}')}/frames.csv" for e, v in runs]
        configs = [f"results/models/{e}/{v}/sigma{sigma}/config.json" for e, v in runs]
        return frames + configs, f"--inputs {' '.join(frames)} --configs {' '.join(configs)}"
    main = role("table1")
    variant = next(iter(config["experiments"][main]["variants"]))
    sigma = report_sigma(main)
    level = f"sigma{sigma}"
    if name == "visual":
        dirs = [f"results/baselines/{m}/{dataset}/{level}/samples" for m in BASELINE_METHODS if m != "noisy"]
        dirs.append(f"{eval_dir(main, variant, dataset, level)}/samples")
        return dirs, "--inputs " + " ".join(dirs)
    # budget: the main model's validation curve, its test score and the baselines, at one sigma
    dataset = config["experiments"][main]["test_data"][0]
    log = f"results/models/{main}/{variant}/{level}/log.csv"
    bench = f"results/benchmarks/train/{main}/{variant}/{level}.tsv"
    final = f"{eval_dir(main, variant, dataset, level)}/frames.csv"
    bases = [f"results/baselines/{m}/{dataset}/{level}/frames.csv" for m in BASELINE_METHODS if m != "noisy"]
    args = f"--inputs {log} --times {bench} --final {final} --baselines {' '.join(bases)}"
    return [log, bench, final, *bases], args


def figure_names():
    names = ["figure4"] + [n for n in ("figure7", "figure10") if role(n)]
    main = role("table1")
    if main:
        names += [f"visual-{d}" for d in config["experiments"][main]["test_data"]] + ["budget"]
    return names


# ------------------------------------------------------------------------------ captions
def describe(experiment):
    """What an experiment ran, as reStructuredText for a caption: recipe, data, budget."""
    exp = config["experiments"][experiment]
    jobs = [j for j in JOBS.values() if j.experiment == experiment]
    cfg = jobs[0].cfg
    m, d, t, f = cfg.model, cfg.data, cfg.train, cfg.flow
    levels = ", ".join(map(str, exp.get("sigmas", exp.get("isos", []))))
    levels = f"sigma {levels}" if "sigmas" in exp else f"ISO {levels}"
    variants = "; ".join(f"``{v}``: {', '.join(_flatten(s)) or 'as above'}" for v, s in exp["variants"].items())
    distill = (
        f" with distillation (lambda {f.distill.lam:g} from step {f.distill.start_step})"
        if f.estimator == "pwcnet"
        else f" re-estimated on the pseudo-clean mean from step {f.distill.start_step}"
    )
    lines = [
        f"- **Run**: workflow config ``{', '.join(map(str, workflow.configfiles)) or 'config.yaml'}``, experiment "
        f"``{experiment}`` (stbn config ``{exp['config']}``), {levels}.",
        f"- **Model** (variant ``{jobs[0].variant}``): width {m.num_channels}, {m.num_resblocks} residual blocks, "
        f"BSA fusion {'on' if m.bsa_fusion else 'off'}, SRFE {'on' if m.srfe else 'off'}, {m.warp} warping, "
        f"flow ``{f.estimator}``{distill if f.distill.enabled else ''}.",
        f"- **Variants**: {variants}.",
        f"- **Budget**: {t.iterations} iterations of batch {d.batch_size} x {d.clip_length} frames of "
        f"{d.crop}x{d.crop}, "
        f"Adam lr {t.lr:g} (x{t.gamma:g} at {t.milestones or 'no milestone'}), seed {t.seed}"
        + (", trained on one fixed noisy realisation of the test video" if d.fixed_noisy else "") + ".",
        f"- **Data**: trained on ``{exp['train_data']}``, tested on {', '.join(f'``{x}``' for x in exp['test_data'])} "
        f"(first {config['evaluation']['max_frames']} frames of each sequence, the paper's seed-0 noise).",
    ]
    return "\n".join(lines)


def caption_settings(name):
    """The caption's description of what table/figure `name` shows was run (rst bullet list)."""
    if name == "figure4":
        return "- **Run**: no training; 256x256 unit Gaussian noise, seed 0, warped by the package's ``flow_warp``."
    if name == "variants":
        return "\n".join(describe(e) for e in srgb_experiments())
    base = name.partition("-")[0]
    lines = [describe(role("table1") if base in ("visual", "budget") else role(base))]
    if base in ("table1", "table2", "table4", "visual", "budget"):
        lines.append(
            f"- **Baselines**: {', '.join(BASELINE_METHODS)} on the same noisy frames (``stbn baseline``), each "
            f"frame timed alone with one thread (OpenMP and OpenCV), {config['resources']['baseline']['threads']} "
            "frame(s) at a time, on the machine that ran the job, which other jobs of the run may have shared."
        )
    if base == "visual":
        lines.append(
            f"- **Sequences**: the first {config['evaluation']['samples']} of the test set by name "
            "(``evaluation.samples``), or all of them if it has fewer."
        )
    return "\n".join(lines)
