"""The tiny workflow through a real single-node Slurm cluster with the project's cluster profile.

`scripts/slurm/start_slurm.sh` brings up munged + slurmctld + slurmd on localhost (Debian's
slurm-wlm, installed with apt-get when missing; a fake GPU), then the tiny config runs as
`snakemake --profile slurm --profile profiles/local-slurm`. Every job that is not a localrule must
have been an sbatch job (its Slurm job id in the main log and a Slurm log file named by it), and the
training and evaluation jobs must have asked Slurm for a GPU. Skipped, with the reason, only where
Slurm cannot be installed: not root, or no apt-get.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess

import pytest

from workflow_helpers import REPO, TINY, snakemake, workdir

pytestmark = pytest.mark.slurm

START = REPO / "scripts" / "slurm" / "start_slurm.sh"
STOP = REPO / "scripts" / "slurm" / "stop_slurm.sh"
GPU_RULES = {"train", "train_raw", "evaluate", "evaluate_raw"}


def _why_not() -> str | None:
    """Why the test cluster cannot run here, or None."""
    if os.geteuid() != 0:
        return "the test cluster's daemons run as root (SlurmUser=root), and installing Slurm needs root: not root"
    installed = all(shutil.which(b) for b in ("slurmctld", "slurmd", "sbatch", "munged"))
    if not installed and not shutil.which("apt-get"):
        return "slurm-wlm/munge are not installed and there is no apt-get to install them"
    return None


@pytest.fixture(scope="module")
def cluster():
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    # one test cluster per machine: concurrent test sessions (other checkouts) take turns
    with open("/var/tmp/stbn-slurm-test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["bash", START], check=True, timeout=600)
        try:
            yield
        finally:
            subprocess.run(["bash", STOP], check=True, timeout=120)


def _slurm_jobs() -> dict[int, dict[str, str]]:
    """Every job the controller still remembers (MinJobAge: an hour): id -> scontrol fields."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, check=True).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if "JobId" in fields:
            jobs[int(fields["JobId"])] = fields
    return jobs


def test_tiny_workflow_runs_every_job_through_slurm(cluster, tmp_path):
    wd = workdir(tmp_path / "wd")
    before = set(_slurm_jobs())
    run = snakemake(
        "--profile", "slurm", "--profile", "profiles/local-slurm", "--configfile", TINY, "-d", wd, timeout=900
    )
    assert run.returncode == 0, run.output[-6000:]

    remote = re.findall(r"^rule (\w+):$", run.output, flags=re.M)  # localrules print `localrule X:`
    submitted = [int(i) for i in re.findall(r"submitted with SLURM jobid (\d+)", run.output)]
    assert remote and len(submitted) == len(remote), (remote, submitted)
    assert GPU_RULES <= set(remote), remote

    jobs = _slurm_jobs()
    assert set(submitted) <= set(jobs) - before, "every submitted job is a new Slurm job"
    logs = {p.stem for p in (wd / ".snakemake" / "slurm_logs").rglob("*.log")}
    for job_id in submitted:
        job = jobs[job_id]
        assert job["JobState"] == "COMPLETED", job
        assert str(job_id) in logs, f"no Slurm log named {job_id}.log"
        rule = re.match(r"rule_(\w+?)_wildcards", job["Comment"])
        rule = rule[1] if rule else job["Comment"].removeprefix("rule_")
        gpus = job.get("TresPerJob", "")
        if rule in GPU_RULES:
            assert gpus == "gres:gpu:1", f"{rule} (Slurm job {job_id}) did not ask for a GPU: {job}"
        else:
            assert "gpu" not in gpus, f"{rule} (Slurm job {job_id}) asked for a GPU: {job}"
    assert (wd / "results" / "tables" / "table1.md").is_file()
