#!/usr/bin/env bash
# Create ./.venv (Python 3.11+) with the exact pinned dependencies and the stbn package (editable), and
# fetch the video corpus's source clips (Debian's archive, via apt-get download; nothing is installed).
# Idempotent: re-running only installs what changed. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [[ -z $PY ]]; then
    for cand in python3.11 python3.12 python3.13 python3; do
        if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            PY=$cand; break
        fi
    done
fi
[[ -n $PY ]] || { echo "setup: need Python >= 3.11 (set PYTHON=/path/to/python)" >&2; exit 1; }
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# requirements.lock pins every package; torch==2.13.0 is the CPU build on CI machines and the
# CUDA build of the same version on GPU clusters.
.venv/bin/python -m pip install -q -r requirements.lock
.venv/bin/python -m pip install -q --no-deps -e .
# The video corpus's clips (docs/data.md): files of pinned Debian packages, fetched once into
# .venv/share/stbn-corpus and checked by sha256; everything after this works offline.
.venv/bin/python scripts/fetch_corpus.py >/dev/null
echo "setup: .venv ready ($(.venv/bin/python -c 'import stbn, torch; print("stbn", stbn.__version__, "torch", torch.__version__)'))"
