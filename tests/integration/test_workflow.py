"""The Snakemake workflow: lint, complete dry runs, config validation before any job, and the tiny
configuration end to end (a failing job, the resuming rerun, nothing left to do, the HTML report).

The end-to-end part runs every rule of the DAG on CPU in a few minutes (.test/config.yaml).
"""

from __future__ import annotations

import csv
import importlib.util
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from workflow_helpers import REPO, TINY, Run, expected_jobs, load_yaml, report_results, snakemake, workdir

PAPER = REPO / "workflow" / "presets" / "paper.yaml"
# variants whose training config equals an earlier one's: they train nothing and share its evaluations
SHARED = {
    "default": {("alignment", "nearest"): ("ablation", "srfe")},
    "paper": {("ablation", "srfe"): ("main", "stbn"), ("alignment", "nearest"): ("main", "stbn")},
    "tiny": {("ablation", "srfe"): ("main", "stbn"), ("alignment", "nearest"): ("main", "stbn")},
}
# the rules whose jobs ask for a GPU (the train and evaluate resource families)
GPU_RULES = {"train", "train_raw", "evaluate", "evaluate_raw", "evaluate_published"}


@pytest.mark.parametrize("config", [None, TINY])
def test_lint_reports_nothing(config):
    run = snakemake("--lint", *(["--configfile", config] if config else []))
    assert run.returncode == 0, run.output
    assert "Congratulations, your workflow is in a good condition!" in run.output, run.output


def test_workflow_is_formatted():
    """The gate of .ci/run: snakefmt (line length from pyproject.toml) would change nothing."""
    snakefmt = Path(sys.executable).parent / "snakefmt"
    proc = subprocess.run([snakefmt, "--check", "Snakefile", "workflow/"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory) -> dict[str, Run]:
    """`snakemake -n -p` on the default config, on the paper preset (its data absent) and on the
    paper preset with a `published:` checkpoint under the cluster profile (`--profile slurm`, found as
    ./slurm from the repo root), so that every rule of the paper's DAG is planned. Each in a fresh
    working directory (-d): what the checkout's results/ hold must not change the plan."""
    tmp = tmp_path_factory.mktemp("published")
    checkpoint = tmp / "STBN_sigma30.pth"
    checkpoint.touch()
    cfg = load_yaml(PAPER)
    cfg["published"] = {"checkpoint": str(checkpoint), "sigma": 30, "test_data": ["set8", "davis-test"]}
    published = tmp / "paper-published.yaml"
    published.write_text(yaml.safe_dump(cfg))
    return {
        "default": snakemake("-n", "-p", "-d", workdir(tmp / "default")),
        "paper": snakemake("-n", "-p", "--configfile", PAPER, "-d", workdir(tmp / "paper")),
        "paper-slurm": snakemake("-n", "--configfile", published, "--profile", "slurm", "-d", workdir(tmp / "slurm")),
    }


@pytest.mark.parametrize("preset", ["default", "paper"])
def test_dry_run_lists_the_complete_dag(dry_runs, preset):
    run = dry_runs[preset]
    assert run.returncode == 0, run.output
    cfg = load_yaml(PAPER if preset == "paper" else REPO / "config.yaml")
    counts = run.job_counts()
    for rule, n in expected_jobs(cfg, SHARED[preset]).items():
        assert counts.get(rule) == n, f"{rule}: {counts.get(rule)} jobs, expected {n}\n{run.output[-3000:]}"
    used = {d for e in cfg["experiments"].values() for d in (e["train_data"], e.get("val_data"), *e["test_data"]) if d}
    used |= set(cfg.get("published", {}).get("test_data", []))
    assert counts["validate_dataset"] == len(used)  # defined but unused datasets are not prepared
    assert any(rule.startswith("table_") for rule in counts) and any(rule.startswith("figure_") for rule in counts)
    assert counts["all"] == 1


def test_an_experiment_config_is_a_preset_or_a_file(tmp_path):
    """`config:` names a packaged preset or gives a YAML file: either file is the training jobs' input
    and their `stbn train --config`."""
    own = tmp_path / "narrow.yaml"
    own.write_text("name: narrow\nmodel: {in_channels: 4, num_channels: 4}\ndata: {kind: raw}\n")
    path = _edited_config(tmp_path, _set("experiments/raw/config", str(own)))
    run = snakemake("-n", "-p", "--configfile", path, "-d", workdir(tmp_path / "wd"))
    assert run.returncode == 0, run.output
    expected = {"main": REPO / "stbn" / "presets" / "tiny.yaml", "raw": own}
    for experiment, base in expected.items():
        jobs = [job for rule, job in _jobs(run) if rule.startswith("train") and f"results/models/{experiment}/" in job]
        assert jobs and all(f"input: {base}," in job and f"--config {base} " in job for job in jobs), jobs


def _jobs(run: Run):
    """(rule, text) of every job a dry run lists."""
    for job in re.split(r"\n\[[^\]]+\]\n", run.output):
        rule = re.match(r"(?:local)?rule (\w+):", job)
        if rule:
            yield rule[1], job


def test_paper_preset_fetches_data_first_and_asks_for_gpus(dry_runs):
    run = dry_runs["paper"]
    counts = run.job_counts()
    # DAVIS is downloaded and unpacked, the PWC-Net weights fetched; the manual sets are validated
    assert counts["download_dataset"] == counts["unpack_dataset"] == 2
    assert counts["download_pwcnet_weights"] == 1
    for rule, job in _jobs(run):
        if rule in GPU_RULES:
            assert re.search(r"resources: .*\bgpu=1\b", job), job
        if rule == "validate_dataset" and "set8.validated" in job:
            assert "input:" not in job.split("output:")[0], "a manual dataset is validated where it lies"


def test_cluster_profile_sends_every_gpu_job_to_the_gpu_partition(dry_runs):
    run = dry_runs["paper-slurm"]
    assert run.returncode == 0, run.output
    assert "Using profile slurm" in run.output
    assert run.job_counts()["evaluate_published"] == 2 and run.job_counts()["import_published"] == 1
    gpu_rules = set()
    for rule, job in _jobs(run):
        resources = re.search(r"resources: (.*)", job)[1]
        gpu = re.search(r"\bgpu=(\d+)", resources)
        if gpu and gpu[1] != "0":
            gpu_rules.add(rule)
        partition = "gpu" if gpu and gpu[1] != "0" else "cpu"
        needs = f"{rule} needs the {partition} partition:\n{job}"
        assert f"slurm_partition=your_{partition}_partition" in resources, needs
        assert "slurm_account=your_account" in resources, job
    # the baselines are CPU jobs; training and every evaluation (the published checkpoint's too) use a GPU
    assert gpu_rules == GPU_RULES, gpu_rules


def test_one_line_enables_udvd_in_the_paper_preset(tmp_path):
    """The paper preset's UDVD variant is a commented line: uncommented, Table 1 and the claims table get
    UDVD trained like STBN (five more training jobs, its Δ row against the paper's UDVD row)."""
    line = "      # udvd: {method: udvd, flow: {estimator: none, weights: null}}\n"
    text = PAPER.read_text()
    assert text.count(line) == 1
    enabled = tmp_path / "paper-udvd.yaml"
    enabled.write_text(text.replace(line, line.replace("# ", "", 1)))
    assert list(load_yaml(enabled)["experiments"]["main"]["variants"]) == ["stbn", "udvd"]
    run = snakemake("-n", "-p", "--configfile", enabled, "-d", workdir(tmp_path / "wd"))
    assert run.returncode == 0, run.output[-3000:]
    assert run.job_counts()["train"] == expected_jobs(load_yaml(PAPER), SHARED["paper"])["train"] + 5
    assert "--paper-method main/udvd=UDVD" in run.output and "--paper-method main/stbn=STBN" in run.output


@pytest.mark.parametrize("preset", ["default", "paper-slurm"])
def test_every_job_has_a_log_a_benchmark_and_resources(dry_runs, preset):
    run = dry_runs[preset]
    jobs = [(rule, job) for rule, job in _jobs(run) if rule != "all"]
    assert jobs, run.output
    for rule, job in jobs:
        assert re.search(r"^\s+log: logs/", job, flags=re.M), f"{rule}: no log\n{job}"
        assert re.search(r"^\s+benchmark: results/benchmarks/", job, flags=re.M), f"{rule}: no benchmark\n{job}"
        resources = re.search(r"resources: (.*)", job)[1]
        assert "mem_mb=" in resources and "runtime=" in resources, f"{rule}: no mem_mb/runtime\n{job}"


def _edited_config(tmp_path: Path, *edits) -> Path:
    cfg = load_yaml(TINY)
    for edit in edits:
        edit(cfg)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))  # config order decides which shared model trains
    return path


def _set(path: str, value):
    def edit(cfg):
        *parents, key = path.split("/")
        node = cfg
        for p in parents:
            node = node[p]
        node[key] = value

    return edit


def _fails_before_any_job(tmp_path: Path, *edits) -> str:
    wd = workdir(tmp_path / "wd")
    run = snakemake("--cores", "1", "--configfile", _edited_config(tmp_path, *edits), "-d", wd)
    assert run.returncode != 0
    assert "Building DAG of jobs" not in run.output and not run.jobs(), run.output
    assert sorted(p.name for p in wd.iterdir() if p.name != ".snakemake") == ["config.yaml"]
    return run.output


def test_unknown_workflow_key_fails_before_any_job(tmp_path):
    out = _fails_before_any_job(tmp_path, _set("experiments/main/bogus_key", 1))
    assert "bogus_key" in out and "Additional properties are not allowed" in out, out


PROBLEMS = {
    "unknown model key": (
        _set("experiments/main/variants/stbn", {"model": {"widht": 8}}),
        ["experiments.main.variants.stbn at sigma 30: model.widht: unknown key"],
    ),
    "sigma out of range": (
        _set("experiments/distill-lambda/sigmas", [30, 300]),
        ["experiments.distill-lambda.variants.lambda-5e-4 at sigma 300: data.sigma must lie in [0, 255]"],
    ),
    "uncalibrated ISO": (_set("experiments/raw/isos", [800]), ["experiments.raw.variants.stbn:", "ISO [800]"]),
    "missing dataset path": (
        _set("datasets/embedded-srgb-test", {"source": "manual", "path": "/nonexistent/Set8"}),
        ["datasets.embedded-srgb-test.path: /nonexistent/Set8 is not a folder"],
    ),
    "undefined dataset": (
        _set("experiments/train-on-test/test_data", ["set9"]),
        ["experiments.train-on-test: dataset(s) set9 not defined under datasets"],
    ),
    "unknown preset": (
        _set("experiments/alignment/config", "tinny"),
        ["experiments.alignment.config: unknown preset 'tinny' (known: cpu-fit,"],
    ),
    "missing config file": (
        _set("experiments/main-pooled/config", "nowhere/tiny.yaml"),
        ["experiments.main-pooled.config: nowhere/tiny.yaml: config file not found"],
    ),
}


def test_bad_settings_fail_before_any_job_each_problem_named(tmp_path):
    out = _fails_before_any_job(tmp_path, *(edit for edit, _ in PROBLEMS.values()))
    assert f"invalid workflow configuration ({len(PROBLEMS)} problems)" in out, out
    for case, (_, expected) in PROBLEMS.items():
        for text in expected:
            assert text in out, f"{case}: {text!r} not in:\n{out}"


# ---------------------------------------------------------------------------------- end to end
FAILING = "results/eval/main/stbn/embedded-srgb-test/sigma30/seed0"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, object]:
    """The tiny config run four times in one working directory.

    1. with `stbn evaluate` of one job failing after writing part of its output (--keep-going);
    2. again, with the real `stbn`: it must finish without retraining anything;
    3. once more: nothing to be done;
    4. `--report`.
    """
    tmp = tmp_path_factory.mktemp("tiny")
    wd = workdir(tmp / "wd")
    fake = tmp / "bin"
    fake.mkdir()
    stbn = Path(sys.executable).parent / "stbn"
    (fake / "stbn").write_text(
        "#!/usr/bin/env bash\n"
        f'if [[ $1 == evaluate && " $* " == *" --out {FAILING} "* ]]; then\n'
        f"    mkdir -p {FAILING} && echo sequence,frame,psnr,ssim > {FAILING}/frames.csv\n"
        '    echo "injected failure" >&2; exit 1\n'
        "fi\n"
        f'exec {stbn} "$@"\n'
    )
    (fake / "stbn").chmod(stat.S_IRWXU)
    base = ("--cores", "2", "--configfile", TINY, "-d", wd)
    path = f"{fake}:{Path(sys.executable).parent}:/usr/bin:/bin"
    runs = {"failing": snakemake(*base, "--keep-going", env={"PATH": path}, timeout=900)}
    runs["partial"] = {p.name for p in (wd / FAILING).glob("*")} if (wd / FAILING).exists() else set()
    runs["rerun"] = snakemake(*base, timeout=900)
    runs["again"] = snakemake(*base)
    runs["report"] = snakemake(*base, "--report", wd / "report.html")
    runs["wd"] = wd
    return runs


def test_failing_job_leaves_no_partial_outputs(tiny):
    run: Run = tiny["failing"]
    assert run.returncode != 0
    assert "Error in rule evaluate" in run.output and FAILING in run.output
    assert tiny["partial"] == set(), f"partial outputs left: {tiny['partial']}"
    # independent jobs went on (--keep-going): every model was trained
    assert run.jobs().count("train") == expected_jobs(load_yaml(TINY), SHARED["tiny"])["train"]


def test_rerun_resumes_without_redoing_finished_jobs(tiny):
    run: Run = tiny["rerun"]
    assert run.returncode == 0, run.output[-5000:]
    jobs = set(run.jobs())
    assert "evaluate" in jobs
    assert not jobs & {"train", "train_raw", "prepare_embedded", "validate_dataset"}, jobs


def test_tiny_run_writes_every_table_and_figure(tiny):
    wd: Path = tiny["wd"]
    tables = {p.name for p in (wd / "results" / "tables").iterdir()}
    figures = {p.name for p in (wd / "results" / "figures").iterdir()}
    for name in ("table1", "table2", "table3", "table4", "variants", "claims"):
        assert {f"{name}.csv", f"{name}.md", f"{name}.tex"} <= tables, tables
    for name in ("figure4", "figure7", "figure10", "budget", "visual-embedded-srgb-test"):
        assert {f"{name}.png", f"{name}.pdf"} <= figures, figures
    models = wd / "results" / "models"
    for model in ("main/stbn/sigma30/seed1", "main-pooled/stbn/pooled/seed0", "raw/stbn/pooled/seed1",
                  "raw-per-iso/stbn/iso12800/seed0"):
        folder = models / model
        assert {"model.pt", "config.json", "log.csv"} <= {p.name for p in folder.iterdir()}
        assert not (folder / "last.pt").exists(), "a finished training removes its resume checkpoint"
    assert (wd / "logs" / "train" / "main" / "stbn" / "sigma30" / "seed1.log").is_file()
    assert (wd / "results" / "benchmarks" / "train" / "main" / "stbn" / "sigma30" / "seed1.tsv").is_file()


def test_identical_variants_train_once_and_share_the_model(tiny):
    wd: Path = tiny["wd"]
    assert not (wd / "results" / "models" / "alignment" / "nearest").exists()
    assert not (wd / "results" / "models" / "ablation" / "srfe").exists()
    rows = {r["method"]: r for r in csv.DictReader((wd / "results" / "tables" / "variants.csv").open())}
    assert {"main/stbn", "main/udvd", "ablation/srfe", "alignment/nearest"} <= set(rows)
    # both methods' size, cost and training time per step, measured in this run
    for run in ("main/stbn", "main/udvd"):
        assert int(rows[run]["params"]) > 0 and float(rows[run]["GMAC/frame"]) > 0 and float(rows[run]["s/step"]) > 0


def test_tiny_run_judges_every_claim(tiny):
    wd: Path = tiny["wd"]
    rows = list(csv.DictReader((wd / "results" / "tables" / "claims.csv").open()))
    claims = {r["claim"] for r in rows}
    assert claims == {
        "alignment", "ablation-bsa", "ablation-srfe", "ablation-flow-refinement", "train-on-test", "vs-classical",
        "vs-udvd", "raw-vs-noisy", "raw-pooled", "srgb-pooled", "warp-noise-variance", "warp-noise-correlation",
    }, claims
    verdicts = {"reproduced", "contradicted", "not resolved", "pooled better", "per-ISO better", "per-sigma better"}
    for row in rows:
        assert row["verdict"] in verdicts, row
        if row["verdict"] == "not resolved":
            assert row["to_resolve"], row
        # every interval includes a training-seed spread, measured or borrowed
        if row["claim"] not in ("warp-noise-variance", "warp-noise-correlation"):
            assert row["seed_spread"] and not row["no_interval"], row
    # the raw model is judged against its noisy input at every ISO, pooled and per ISO
    raw = {(r["a"], r["level"]) for r in rows if r["claim"] == "raw-vs-noisy"}
    assert raw == {(a, f"ISO {i}") for a in ("raw/stbn", "raw-per-iso/stbn") for i in (12800, 25600)}


def test_second_run_has_nothing_to_do(tiny):
    run: Run = tiny["again"]
    assert run.returncode == 0, run.output
    assert "Nothing to be done" in run.output, run.output


def test_report_is_html_with_the_tables_and_figures(tiny):
    run: Run = tiny["report"]
    assert run.returncode == 0, run.output
    wd: Path = tiny["wd"]
    html = (wd / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    embedded = report_results(html)
    made = sorted(p.relative_to(wd).as_posix() for d in ("tables", "figures") for p in (wd / "results" / d).iterdir())
    assert sorted(embedded) == made
    for path, (content, caption) in embedded.items():
        assert content == (wd / path).read_bytes(), f"{path}: the report embeds other content than the file"
        assert "<strong>Run</strong>" in caption, f"{path}: the caption does not say what was run:\n{caption}"


# ---------------------------------------------------------------------------------- static checks
def test_conda_env_pins_the_package_pins():
    env = load_yaml(REPO / "envs" / "stbn.yaml")
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(pip) == sorted(deps)
    lock = set((REPO / "requirements.lock").read_text().split())
    assert set(pip) <= lock, set(pip) - lock
    assert (REPO / "envs" / "stbn.post-deploy.sh").stat().st_mode & stat.S_IXUSR


@pytest.mark.parametrize("profile", ["slurm/config.yaml", "profiles/local-slurm/config.yaml"])
def test_every_profile_entry_is_commented(profile):
    lines = (REPO / profile).read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"[\w-]+:", line):  # a top-level entry: a comment above it or on its line
            assert "#" in line or lines[i - 1].startswith("#"), f"{profile}:{i + 1}: {line!r} has no comment"


def test_profiles_as_the_slurm_tests_need_them():
    cluster = load_yaml(REPO / "slurm" / "config.yaml")
    local = load_yaml(REPO / "profiles" / "local-slurm" / "config.yaml")
    assert cluster["executor"] == "slurm" and cluster["rerun-incomplete"] and cluster["retries"] >= 1
    assert {"slurm_partition", "slurm_account"} <= set(cluster["default-resources"])
    # the add-on's set-resources replaces the cluster profile's whole: it must name the same GPU rules
    assert set(cluster["set-resources"]) == set(local["set-resources"]) == GPU_RULES
    assert local["slurm-status-command"] == "squeue" and local["slurm-init-seconds-before-status-checks"] == 2
    # no workflow profile: its default-resources would silently replace the cluster profile's (SLURM.md P3)
    assert not (REPO / "profiles" / "default").exists() and not (REPO / "workflow" / "profiles").exists()


def test_readme_commands_are_the_documented_ones():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^(bash scripts/setup\.sh && .+?)(?:\s+#.*)?$", readme, flags=re.M)
    assert "bash scripts/setup.sh && .venv/bin/snakemake --cores 2" in commands, commands


# ---------------------------------------------------------------------------------- downloads
def _download_module():
    spec = importlib.util.spec_from_file_location("download", REPO / "workflow" / "scripts" / "download.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_download_records_its_sha256_and_later_ones_are_checked(tmp_path, capsys):
    dl = _download_module()
    source = tmp_path / "archive.zip"
    source.write_bytes(b"first")
    out = tmp_path / "downloads" / "archive.zip"
    digest = dl.download(source.as_uri(), out)
    assert out.read_bytes() == b"first"
    assert (tmp_path / "downloads" / "archive.zip.sha256").read_text() == f"{digest}  archive.zip\n"
    assert "warning: no sha256 known for archive.zip" in capsys.readouterr().err
    out.unlink()  # as Snakemake does before it reruns the job
    source.write_bytes(b"changed")
    with pytest.raises(dl.DownloadError, match="checksum mismatch"):
        dl.download(source.as_uri(), out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["archive.zip.sha256"], "nothing else left behind"
    source.write_bytes(b"first")
    assert dl.download(source.as_uri(), out) == digest and "warning" not in capsys.readouterr().err


def test_download_checks_a_given_sha256(tmp_path):
    dl = _download_module()
    source = tmp_path / "weights.pytorch"
    source.write_bytes(b"weights")
    out = tmp_path / "out" / "weights.pytorch"
    assert dl.main([source.as_uri(), str(out), "--sha256", "0" * 64]) == 2
    assert not out.parent.exists() or not any(out.parent.iterdir()), "a mismatch leaves nothing, records nothing"
    digest = dl.download(source.as_uri(), out)
    out.unlink()
    (out.parent / "weights.pytorch.sha256").unlink()
    assert dl.download(source.as_uri(), out, sha256=digest.upper()) == digest
    assert not (out.parent / "weights.pytorch.sha256").exists(), "a known sha256 is not re-recorded"
