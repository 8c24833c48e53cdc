"""Fetch NIST PKITS (2011) into a git-ignored cache for the test suite.

The certificates, CRLs and the verdict list (``pkits.json``, 246 cases) ship in the
``pyhanko-certvalidator`` 0.33.0 source distribution on PyPI (``tests/fixtures/nist_pkits/``).
This script, run by ``make unit``/``make test`` before pytest (never by a test), downloads that
sdist with pip, checks its pinned SHA-256 and extracts only the fixture folder into
``.cache/pkits/nist_pkits``. A cache whose stamp names the same SHA-256 is left as it is, so a
second run costs nothing and needs no network.

Usage: ``python scripts/fetch_pkits.py [--cache DIR]``; exit status 0 when the cache is ready.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "pyhanko-certvalidator"
VERSION = "0.33.0"
SDIST = "pyhanko_certvalidator-0.33.0.tar.gz"
SHA256 = "a4c3309f99c77cdcad24532f75340bd8cc8b108aa8992b8102d44f250ebd449c"
FIXTURES = "pyhanko_certvalidator-0.33.0/tests/fixtures/nist_pkits/"
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "pkits"
STAMP = "sha256.txt"


def ready(cache: Path) -> bool:
    stamp = cache / STAMP
    return stamp.is_file() and stamp.read_text().strip() == SHA256 and (cache / "nist_pkits" / "pkits.json").is_file()


def download(into: Path) -> Path:
    cmd = [
        *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"),
        *("--dest", str(into), f"{PACKAGE}=={VERSION}"),
    ]
    subprocess.run(cmd, check=True)
    sdist = into / SDIST
    if not sdist.is_file():
        raise SystemExit(f"fetch_pkits: pip did not produce {SDIST} (got {sorted(p.name for p in into.iterdir())})")
    return sdist


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def extract(sdist: Path, cache: Path) -> None:
    """Only the fixture folder, only regular files, never outside the target."""
    target = cache / "nist_pkits"
    staging = cache / "nist_pkits.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    count = 0
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(FIXTURES):
                continue
            rel = Path(member.name[len(FIXTURES) :])
            if rel.is_absolute() or ".." in rel.parts:
                raise SystemExit(f"fetch_pkits: refusing path {member.name!r}")
            dest = staging / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None
            dest.write_bytes(src.read())
            count += 1
    if not (staging / "pkits.json").is_file():
        raise SystemExit("fetch_pkits: pkits.json is not in the sdist")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    print(f"fetch_pkits: {count} files in {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    cache: Path = args.cache
    if ready(cache):
        return 0
    cache.mkdir(parents=True, exist_ok=True)
    ignore = cache.parent / ".gitignore"
    if cache.parent.name == ".cache" and not ignore.exists():
        ignore.write_text("# downloaded test fixtures: never committed\n*\n")
    with tempfile.TemporaryDirectory() as tmp:
        sdist = download(Path(tmp))
        got = sha256(sdist)
        if got != SHA256:
            raise SystemExit(f"fetch_pkits: {SDIST} has SHA-256 {got}, expected {SHA256}")
        extract(sdist, cache)
    (cache / STAMP).write_text(SHA256 + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
