#!/usr/bin/env bash
# Run by Snakemake inside the new conda environment, from the workflow's working directory (the
# repository root): install the stbn package of this checkout without touching the pinned deps.
set -euo pipefail
python -m pip install --no-deps -e .
