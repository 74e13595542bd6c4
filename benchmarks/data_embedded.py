"""Time materialising the embedded datasets into a fresh folder and print their sizes.

    .venv/bin/python benchmarks/data_embedded.py [--out DIR]   (default: a temporary folder, removed after)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from stbn.data.embedded import materialise


def main() -> None:
    """Materialise once (timed), again (the idempotent no-op, timed), then print files and MiB per dataset."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="materialise here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        start = time.perf_counter()
        roots = materialise(out, force=True)
        built = time.perf_counter() - start
        start = time.perf_counter()
        materialise(out)
        print(f"materialise: {built:.2f} s; second call (up to date): {time.perf_counter() - start:.3f} s")
        for name, root in roots.items():
            files = [p for p in root.rglob("*") if p.is_file()]
            print(f"{name:22s} {len(files):4d} files {sum(p.stat().st_size for p in files) / 2**20:6.1f} MiB  {root}")


if __name__ == "__main__":
    main()
