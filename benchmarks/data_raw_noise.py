"""Print the CRVD raw noise model's measured vs calibrated variance per ISO at a flat clean level.

Usage: .venv/bin/python benchmarks/data_raw_noise.py [--level 1240] [--samples 1000000]
"""

from __future__ import annotations

import argparse

from stbn.data.noise import raw_noise_table


def main() -> None:
    """Print one row per ISO: measured variance, a*(level-240)+b, relative error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", type=float, default=1240.0, help="flat clean level in DN")
    parser.add_argument("--samples", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"clean level {args.level:g} DN, {args.samples} samples per ISO")
    print(f"{'ISO':>6} {'measured':>10} {'a*(L-240)+b':>12} {'rel.err':>8}")
    for row in raw_noise_table(args.level, args.samples):
        print(f"{row['iso']:>6} {row['measured']:>10.1f} {row['predicted']:>12.1f} {row['rel_error']:>+8.4f}")


if __name__ == "__main__":
    main()
