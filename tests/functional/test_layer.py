"""The dependency layer holds binaries for the function's platform, and ``sam build`` works
without Docker.

A layer built with a plain ``pip install`` on an x86_64 machine imports fine in tests and then
fails on Graviton with "invalid ELF header". So the test reads the ELF header of every shared
object in the layer (``e_machine`` must be EM_AARCH64 = 0xB7) and every wheel's tags. The
build is reused when it is current (scripts/build_layer.py stamps it with a hash of its inputs),
so only the first run downloads wheels.
"""

from __future__ import annotations

import functools
import importlib.util
import struct
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
EM_AARCH64 = 0xB7


def _build_layer_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_layer", ROOT / "scripts" / "build_layer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_layer = _build_layer_module()


def elf_machine(path: Path) -> int:
    """``e_machine`` of an ELF file (raises if it is not a 64-bit little-endian ELF)."""
    with path.open("rb") as f:
        header = f.read(20)
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    assert header[4] == 2, f"{path} is not 64-bit"  # EI_CLASS = ELFCLASS64
    assert header[5] == 1, f"{path} is not little-endian"  # EI_DATA = ELFDATA2LSB
    machine: int = struct.unpack_from("<H", header, 18)[0]
    return machine


@functools.cache
def runtime_magic() -> bytes | None:
    """The .pyc magic number of the runtime's Python (None: no such interpreter here)."""
    python = build_layer.find_interpreter()
    if python is None:
        return None
    out = subprocess.run(
        [python, "-c", "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return bytes.fromhex(out.stdout)


def check_bytecode(folder: Path) -> int:
    """Every .pyc is for the runtime's Python and unchecked-hash (PEP 552 flags 0b01: loaded
    without reading the source's mtime); with no such interpreter here, there are none."""
    pycs = list(folder.rglob("*.pyc"))
    magic = runtime_magic()
    if magic is None:
        assert not pycs, "no python3.13 here, yet the artifact holds bytecode"
        return 0
    tag = f".cpython-{build_layer.PYTHON_VERSION.replace('.', '')}.pyc"
    for pyc in pycs:
        assert pyc.name.endswith(tag), pyc
        header = pyc.read_bytes()[:8]
        assert header[:4] == magic and struct.unpack("<I", header[4:])[0] == 0b01, pyc
    sources = [p for p in folder.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(pycs) >= len(sources) > 0  # every module precompiled
    return len(pycs)


def check_layer(python_dir: Path) -> None:
    """Assertions shared by the layer build and sam build's output."""
    rust = python_dir / "cryptography" / "hazmat" / "bindings" / "_rust.abi3.so"
    assert rust.is_file()
    assert elf_machine(rust) == EM_AARCH64
    shared_objects = list(python_dir.rglob("*.so"))
    assert len(shared_objects) >= 2  # cryptography's Rust bindings and cffi's backend
    for so in shared_objects:
        assert elf_machine(so) == EM_AARCH64, f"{so.relative_to(python_dir)} is not aarch64"
        assert "x86_64" not in so.name
    assert (python_dir / "aws_lambda_powertools").is_dir()
    check_bytecode(python_dir)


@pytest.fixture(scope="module")
def layer() -> Path:
    return Path(build_layer.build(ROOT / "build" / "layer"))


def test_layer_binaries_are_aarch64(layer: Path) -> None:
    check_layer(layer)


def test_layer_wheels_are_tagged_for_the_target(layer: Path) -> None:
    wheels = {}
    for wheel_file in layer.glob("*.dist-info/WHEEL"):
        tags = [
            line.split(":", 1)[1].strip() for line in wheel_file.read_text().splitlines() if line.startswith("Tag:")
        ]
        assert tags, wheel_file
        wheels[wheel_file.parent.name.split("-")[0].lower()] = tags
    for name in ("cryptography", "aws_lambda_powertools", "cffi"):
        assert name in wheels, f"{name} missing from the layer"
    for name, tags in wheels.items():
        for tag in tags:
            python, abi, platform = tag.split("-")
            if platform == "any":
                continue
            assert platform.startswith("manylinux") and platform.endswith("aarch64"), f"{name}: {tag}"
            assert python in ("cp313", "cp311", "cp39", "cp38", "cp37") or python.startswith("py3"), f"{name}: {tag}"
            assert abi in ("abi3", "cp313", "none"), f"{name}: {tag}"
    assert any(t.endswith("aarch64") for t in wheels["cryptography"])
    # boto3 comes with the Lambda runtime; shipping it would double the layer for nothing.
    assert "boto3" not in wheels and "botocore" not in wheels


def test_layer_matches_the_template(layer: Path) -> None:
    text = (ROOT / "template.yaml").read_text()
    assert f"Runtime: python{build_layer.PYTHON_VERSION}" in text
    assert "Architectures: [arm64]" in text
    assert all(p.endswith("_aarch64") for p in build_layer.PLATFORMS)


def test_current_build_is_reused(layer: Path) -> None:
    """A second build with unchanged requirements is a no-op (keeps tests and sam build fast)."""
    stamp = layer.parent / ".stamp"
    before = stamp.stat().st_mtime_ns
    assert build_layer.is_current(layer.parent)
    build_layer.build(layer.parent)
    assert stamp.stat().st_mtime_ns == before


def test_layer_stamp_records_the_bytecode(layer: Path) -> None:
    stamp = build_layer.stamp_data(layer.parent)
    if runtime_magic() is None:
        assert stamp["bytecode"] is None
    else:
        assert stamp["bytecode"] == {"python": build_layer.PYTHON_VERSION, "files": check_bytecode(layer)}


def test_stale_stamp_means_rebuild(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("jmespath==1.0.1\n")
    out = tmp_path / "layer"
    (out / "python").mkdir(parents=True)
    (out / ".stamp").write_text('{"digest": "old"}')
    assert not build_layer.is_current(out, requirements)


def _sam() -> str | None:
    from tests.functional.test_template import sam_binary

    return sam_binary()


@pytest.mark.skipif(
    _sam() is None,
    reason="aws-sam-cli not installed: `make sam-install` puts it in .venv-sam (make test does this first)",
)
def test_sam_build_without_docker(layer: Path) -> None:
    """``sam build`` (no --use-container) produces the function and the aarch64 layer. The build
    is the session's one (test_sam_artifact runs the built handler from it)."""
    from tests.functional.test_sam_artifact import sam_build

    build_dir = sam_build()
    function = build_dir / "AuthorizerFunction"
    assert (function / "authorizer" / "app.py").is_file()
    check_bytecode(function)  # precompiled for python3.13 (when present), never the host's .pyc
    assert not (function / "cryptography").exists()  # dependencies live in the layer only
    check_layer(build_dir / "DependenciesLayer" / "python")
    built = (build_dir / "template.yaml").read_text()
    assert "CodeUri: AuthorizerFunction" in built and "ContentUri: DependenciesLayer" in built
