#!/usr/bin/env python3
"""Build the dependency layer for the Lambda's platform, not for this machine.

The function runs on arm64 (Graviton) with CPython 3.13 on Amazon Linux 2023 (glibc 2.34).
cryptography ships a compiled Rust extension, so a plain ``pip install`` on an x86_64 laptop or
CI runner would put an x86_64 ``_rust.abi3.so`` in the layer and the function would fail to
import it. Asking pip for the target platform's wheels (``--platform manylinux_2_34_aarch64 ...
--implementation cp --python-version 3.13 --only-binary=:all:``) downloads the right binaries
without Docker and without compiling anything.

Output: ``build/layer/python/`` (the layout Lambda expects for Python layers) and
``build/layer/.stamp`` holding a hash of the inputs. A build whose stamp matches the current
requirements and target is reused (``--force`` rebuilds), so tests and ``sam build`` stay fast.

Usage: ``python scripts/build_layer.py [--out DIR] [--force] [--check]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "layers" / "requirements.txt"
DEFAULT_OUT = ROOT / "build" / "layer"

#: The function's runtime and architecture (template.yaml: python3.13, arm64). Lambda's
#: python3.13 runs on Amazon Linux 2023 (glibc 2.34), so any manylinux tag up to 2.34 loads.
#: pip does not widen an explicit ``--platform`` to older glibc tags, hence the list (cffi,
#: for instance, ships only manylinux2014 = manylinux_2_17 wheels for aarch64).
PYTHON_VERSION = "3.13"
PLATFORMS = ("manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
IMPLEMENTATION = "cp"


def inputs_digest(requirements: Path = REQUIREMENTS) -> str:
    """Hash of everything that decides the layer's content."""
    h = hashlib.sha256()
    h.update(requirements.read_bytes())
    h.update(f"{PYTHON_VERSION}|{','.join(PLATFORMS)}|{IMPLEMENTATION}".encode())
    return h.hexdigest()


def is_current(out: Path, requirements: Path = REQUIREMENTS) -> bool:
    """True when ``out`` holds a complete build of the current inputs."""
    stamp = out / ".stamp"
    if not stamp.is_file() or not (out / "python").is_dir():
        return False
    try:
        data = json.loads(stamp.read_text())
    except ValueError:
        return False
    return bool(data.get("digest") == inputs_digest(requirements))


def build(out: Path = DEFAULT_OUT, *, requirements: Path = REQUIREMENTS, force: bool = False) -> Path:
    """Build (or reuse) the layer in ``out``; returns ``out / "python"``.

    Builds into a temporary sibling directory and swaps it in at the end, so an interrupted
    build never leaves a half-filled layer that a later run would reuse.
    """
    if not force and is_current(out, requirements):
        return out / "python"
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".layer-", dir=out.parent))
    try:
        cmd = [
            sys.executable, "-m", "pip", "install",
            "--quiet", "--disable-pip-version-check", "--no-input",
            "--target", str(staging / "python"),
            *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
            "--implementation", IMPLEMENTATION,
            "--python-version", PYTHON_VERSION,
            "--only-binary=:all:",
            "--no-compile",  # Lambda writes no .pyc to a read-only layer; keep the zip small
            "--requirement", str(requirements),
        ]  # fmt: skip
        subprocess.run(cmd, check=True)
        # pip --target leaves console scripts in python/bin: not importable, not needed.
        shutil.rmtree(staging / "python" / "bin", ignore_errors=True)
        (staging / ".stamp").write_text(
            json.dumps(
                {"digest": inputs_digest(requirements), "platforms": list(PLATFORMS), "python": PYTHON_VERSION},
                indent=2,
            )
            + "\n"
        )
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "python"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS)
    parser.add_argument("--force", action="store_true", help="rebuild even when the build is current")
    parser.add_argument("--check", action="store_true", help="exit 1 when the build is missing or stale")
    args = parser.parse_args(argv)
    if args.check:
        current = is_current(args.out, args.requirements)
        print("current" if current else "stale")
        return 0 if current else 1
    target = build(args.out, requirements=args.requirements, force=args.force)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
