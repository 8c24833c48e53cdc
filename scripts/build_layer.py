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

Two more builds share the stamp logic:

* ``--host``: the same requirements for THIS machine and interpreter (``build/host-layer``). Not
  deployable; ``tests/functional/test_sam_artifact.py`` imports the built function against it
  in a fresh interpreter, and ``bench/bench_coldstart.py`` times cold starts with it.
Bytecode: the Lambda layer is precompiled (``compileall``, unchecked-hash ``.pyc``) with an
interpreter of the layer's Python version, found by :func:`find_interpreter`. Lambda's file
system is read-only, so a layer without ``.pyc`` files compiles every module it imports on every
cold start (``make bench``: about half the cold start). ``.pyc`` files are version-specific
(``cpython-313``): when no such interpreter is present the layer is built without them, and the
build says so. ``--no-bytecode`` skips them; host builds never have them (the benchmark compiles
its own copies). ``--print-interpreter`` prints the interpreter (empty when none), for
layers/Makefile, which precompiles the function the same way.

Usage: ``python scripts/build_layer.py [--out DIR] [--host] [--no-bytecode] [--force] [--check]``
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "layers" / "requirements.txt"
DEFAULT_OUT = ROOT / "build" / "layer"
HOST_OUT = ROOT / "build" / "host-layer"

#: The function's runtime and architecture (template.yaml: python3.13, arm64). Lambda's
#: python3.13 runs on Amazon Linux 2023 (glibc 2.34), so any manylinux tag up to 2.34 loads.
#: pip does not widen an explicit ``--platform`` to older glibc tags, hence the list (cffi,
#: for instance, ships only manylinux2014 = manylinux_2_17 wheels for aarch64).
PYTHON_VERSION = "3.13"
PLATFORMS = ("manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
IMPLEMENTATION = "cp"
#: Environment variable naming the interpreter that compiles the layer's bytecode.
BYTECODE_PYTHON_ENV = "BYTECODE_PYTHON"


def host_target() -> str:
    """What a host build is for: this interpreter's version and this machine."""
    return f"host|{sys.implementation.cache_tag}|{platform.machine()}"


def inputs_digest(requirements: Path = REQUIREMENTS, *, host: bool = False, bytecode: str | None = None) -> str:
    """Hash of everything that decides the layer's content."""
    h = hashlib.sha256()
    h.update(requirements.read_bytes())
    if host:
        h.update(host_target().encode())
    else:
        h.update(f"{PYTHON_VERSION}|{','.join(PLATFORMS)}|{IMPLEMENTATION}".encode())
    if bytecode:
        h.update(f"|bytecode:{bytecode}".encode())
    return h.hexdigest()


def interpreter_version(python: str) -> str | None:
    """``"3.13"`` for a working interpreter, None otherwise (a pyenv shim of an unselected
    version exists on the PATH but fails)."""
    try:
        proc = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def find_interpreter(version: str = PYTHON_VERSION) -> str | None:
    """A CPython of ``version`` on this machine: $BYTECODE_PYTHON, python3.X on the PATH, or a
    pyenv installation. None when there is none (the layer then ships without bytecode)."""
    candidates = [os.environ.get(BYTECODE_PYTHON_ENV, ""), shutil.which(f"python{version}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}*/bin/python{version}"), reverse=True)
    for candidate in filter(None, candidates):
        if interpreter_version(candidate) == version:
            return candidate
    return None


def compile_bytecode(folder: Path, python: str) -> int:
    """Precompile every module under ``folder`` with ``python``; returns the number of .pyc files.

    unchecked-hash: the interpreter loads the .pyc without comparing it with the source's
    mtime (zip extraction does not keep mtimes reliably, and the artifact never changes).
    """
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(folder)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return sum(1 for _ in folder.rglob("*.pyc"))


def stamp_data(out: Path) -> dict[str, object]:
    try:
        data = json.loads((out / ".stamp").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def bytecode_tag(*, host: bool, bytecode: bool) -> str | None:
    """The Python version the build's .pyc files are for, None when it has none."""
    return PYTHON_VERSION if bytecode and not host and find_interpreter() else None


def is_current(out: Path, requirements: Path = REQUIREMENTS, *, host: bool = False, bytecode: bool = True) -> bool:
    """True when ``out`` holds a complete build of the current inputs (as :func:`build` makes it)."""
    if not (out / "python").is_dir():
        return False
    tag = bytecode_tag(host=host, bytecode=bytecode)
    return stamp_data(out).get("digest") == inputs_digest(requirements, host=host, bytecode=tag)


def build(
    out: Path = DEFAULT_OUT,
    *,
    requirements: Path = REQUIREMENTS,
    force: bool = False,
    host: bool = False,
    bytecode: bool = True,
) -> Path:
    """Build (or reuse) the layer in ``out``; returns ``out / "python"``.

    Builds into a temporary sibling directory and swaps it in at the end, so an interrupted
    build never leaves a half-filled layer that a later run would reuse. ``bytecode``: precompiled
    modules, added only when an interpreter of the target version exists (never for a host build).
    """
    version = sys.implementation.cache_tag if host else PYTHON_VERSION
    compiler = find_interpreter() if bytecode and not host else None
    tag = version if compiler else None
    if bytecode and not host and compiler is None:
        print(f"build_layer: no python{PYTHON_VERSION} here; the layer ships without bytecode", file=sys.stderr)
    if not force and is_current(out, requirements, host=host, bytecode=bytecode):
        return out / "python"
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".layer-", dir=out.parent))
    try:
        target = [] if host else [
            *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
            "--implementation", IMPLEMENTATION,
            "--python-version", PYTHON_VERSION,
        ]  # fmt: skip
        cmd = [
            sys.executable, "-m", "pip", "install",
            "--quiet", "--disable-pip-version-check", "--no-input",
            "--target", str(staging / "python"),
            *target,
            "--only-binary=:all:",
            "--no-compile",  # bytecode, if any, is compiled below by the target's interpreter
            "--requirement", str(requirements),
        ]  # fmt: skip
        subprocess.run(cmd, check=True)
        # pip --target leaves console scripts in python/bin: not importable, not needed.
        shutil.rmtree(staging / "python" / "bin", ignore_errors=True)
        pyc = compile_bytecode(staging / "python", compiler) if compiler else 0
        (staging / ".stamp").write_text(
            json.dumps(
                {
                    "digest": inputs_digest(requirements, host=host, bytecode=tag),
                    "platforms": [host_target()] if host else list(PLATFORMS),
                    "python": version,
                    "bytecode": {"python": tag, "files": pyc} if tag else None,
                },
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
    parser.add_argument("--out", type=Path, help=f"output folder (default {DEFAULT_OUT}, --host: {HOST_OUT})")
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS)
    parser.add_argument("--host", action="store_true", help="for this machine and interpreter (tests, benchmarks)")
    parser.add_argument("--no-bytecode", action="store_true", help="no precompiled .pyc in the layer")
    parser.add_argument(
        "--print-interpreter", action="store_true", help=f"print the python{PYTHON_VERSION} that compiles bytecode"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when the build is current")
    parser.add_argument("--check", action="store_true", help="exit 1 when the build is missing or stale")
    args = parser.parse_args(argv)
    out = args.out or (HOST_OUT if args.host else DEFAULT_OUT)
    if args.print_interpreter:
        print(find_interpreter() or "")
        return 0
    if args.check:
        current = is_current(out, args.requirements, host=args.host, bytecode=not args.no_bytecode)
        print("current" if current else "stale")
        return 0 if current else 1
    target = build(out, requirements=args.requirements, force=args.force, host=args.host, bytecode=not args.no_bytecode)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
