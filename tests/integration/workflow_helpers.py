"""Running the workflow from tests: Snakemake in a throw-away working directory, its output parsed."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / ".test" / "config.yaml"


@dataclass
class Run:
    """One Snakemake invocation: exit code and combined output."""

    returncode: int
    output: str

    def jobs(self) -> list[str]:
        """Rule names of the jobs this run started (`rule X:` / `localrule X:` lines)."""
        return re.findall(r"^(?:local)?rule (\w+):$", self.output, flags=re.M)

    def job_counts(self) -> dict[str, int]:
        """The `Job stats` table of a (dry) run: rule -> count."""
        stats = self.output.split("Job stats:", 1)[1]
        return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, flags=re.M) if m[1] != "total"}


def workdir(tmp: Path) -> Path:
    """A fresh working directory for the workflow outside the repository (the default config.yaml
    linked in), so that no test sees what the checkout's results/ hold."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.yaml").symlink_to(REPO / "config.yaml")
    return tmp


def snakemake(
    *args: str | Path,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    signal: str = "INT",
) -> Run:
    """`timeout -s INT <timeout> python -m snakemake ARGS` (SIGINT: snakemake ignores SIGTERM)."""
    cmd = ["timeout", "-s", signal, "-k", "30", str(int(timeout)), sys.executable, "-m", "snakemake", *map(str, args)]
    proc = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return Run(proc.returncode, proc.stdout)


def report_results(html: str) -> dict[str, tuple[bytes, str]]:
    """The files a Snakemake HTML report embeds: path -> (content, caption HTML).

    The report holds them in `<script id="results">var results = {path: {..., "caption": ...,
    "data_uri": "data:<mime>;charset=...;filename=<name>;base64,<content>"}}`.
    """
    start = html.index("var results = ", html.index('<script id="results">')) + len("var results = ")
    results, _ = json.JSONDecoder().raw_decode(html, start)
    return {
        path: (base64.b64decode(entry["data_uri"].split(";base64,", 1)[1]), entry["caption"])
        for path, entry in results.items()
    }


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def expected_jobs(cfg: dict, shared: dict[tuple[str, str], tuple[str, str]] | None = None) -> dict[str, int]:
    """Training and evaluation job counts a workflow config asks for. ``shared`` maps an (experiment,
    variant) whose training config equals an earlier one's to that owner: it trains nothing and
    shares the owner's evaluations."""
    shared = shared or {}
    counts = {"train": 0, "train_raw": 0}
    evaluations: set[tuple] = set()
    for name, exp in cfg["experiments"].items():
        raw = "isos" in exp
        levels = [f"iso{i}" for i in exp["isos"]] if raw else [f"sigma{s}" for s in exp["sigmas"]]
        pooled = exp.get("pooling", "pooled" if raw else "per-level") == "pooled"
        seeds = exp.get("seeds", [0])
        for variant in exp["variants"]:
            owner = shared.get((name, variant), (name, variant))
            if owner == (name, variant):
                counts["train_raw" if raw else "train"] += (1 if pooled else len(levels)) * len(seeds)
            evaluations |= {(owner, d, lv, s, raw) for d in exp["test_data"] for lv in levels for s in seeds}
    counts["evaluate"] = sum(not e[-1] for e in evaluations)
    counts["evaluate_raw"] = sum(e[-1] for e in evaluations)
    return {rule: n for rule, n in counts.items() if n}
