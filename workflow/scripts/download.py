"""Download one file and check its sha256: the workflow's only downloader (the stbn package never downloads).

The expected sha256 is the one given (the dataset catalog's) or else the one recorded beside the file,
``<file>.sha256``, by an earlier download. With neither, the first download's sha256 is recorded there
and a warning is printed: that record is the run's provenance, and every later download is checked
against it. A mismatch leaves neither the file nor a partial download behind. Standard library only.

    python workflow/scripts/download.py URL OUT [--sha256 HEX]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import sys
import time
import urllib.request
from pathlib import Path

ATTEMPTS = 3
PAUSE_SECONDS = 10


class DownloadError(Exception):
    """The file could not be fetched, or its sha256 is not the expected one."""


def _fetch(url: str, part: Path) -> str:
    """Write ``url`` to ``part`` and return its sha256, retrying transient failures."""
    for attempt in range(1, ATTEMPTS + 1):
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=60) as response, part.open("wb") as out:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            return digest.hexdigest()
        except (OSError, http.client.HTTPException) as exc:
            if attempt == ATTEMPTS:
                raise DownloadError(f"{url}: {exc} (after {ATTEMPTS} attempts)") from exc
            print(f"{url}: {exc}; retrying in {PAUSE_SECONDS} s", file=sys.stderr)
            time.sleep(PAUSE_SECONDS)


def download(url: str, out: Path, sha256: str | None = None) -> str:
    """Fetch ``url`` to ``out``, check or record its sha256 in ``out.sha256``; return the sha256."""
    record = out.with_name(out.name + ".sha256")
    expected, source = (sha256.lower(), "the catalog") if sha256 else (None, None)
    if expected is None and record.is_file():
        expected, source = record.read_text().split()[0], str(record)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    try:
        actual = _fetch(url, part)
        if expected is not None and actual != expected:
            raise DownloadError(f"{url}: checksum mismatch (sha256 {actual}, expected {expected} from {source})")
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    if expected is None:
        record.write_text(f"{actual}  {out.name}\n")
        print(f"warning: no sha256 known for {out.name}: recorded this download's, {actual}, in {record}; "
              "later downloads are checked against it", file=sys.stderr)
    else:
        print(f"{out}: sha256 {actual} matches {source}")
    return actual


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; a failed download prints one line and returns 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out", type=Path)
    parser.add_argument("--sha256", help="the expected sha256 (hex), e.g. the dataset catalog's")
    args = parser.parse_args(argv)
    try:
        download(args.url, args.out, args.sha256)
    except DownloadError as exc:
        print(f"download: error: {exc}", file=sys.stderr)
        return 2
    return 0


if "snakemake" in globals():
    with open(snakemake.log[0], "w") as _log:  # noqa: F821 (injected by Snakemake)
        sys.stdout = sys.stderr = _log
        _sha256 = snakemake.params.sha256  # noqa: F821
        sys.exit(main([snakemake.params.url, snakemake.output[0]] + (["--sha256", _sha256] if _sha256 else [])))  # noqa: F821
elif __name__ == "__main__":
    sys.exit(main())
