"""Benchmark: cold start (fresh process to first decision) with and without precompiled bytecode.

    .venv/bin/python bench/bench_coldstart.py [--runs 15]

Lambda unpacks the function and its layers on a read-only file system, so Python can never
write ``__pycache__`` there: without ``.pyc`` files in the artifacts, EVERY cold start compiles
every module it imports (the authorizer, cryptography's Python part, Powertools, jmespath...).
This script times exactly that situation and the alternative:

* the artifacts: the function (``.aws-sam/build/AuthorizerFunction`` when ``make sam-build`` made
  it, else ``src/authorizer``) and a host build of the layer's requirements
  (``make host-layer``: build/host-layer for this interpreter, build/host-layer-runtime for
  the function's runtime version when that interpreter is installed);
* two copies of each, one stripped of ``.pyc`` files, one precompiled with ``compileall``
  (unchecked-hash, as scripts/build_layer.py does for the real layer);
* fresh processes ``python -I -S -B`` (nothing but the stdlib and the two copies on ``sys.path``,
  never writing bytecode, like Lambda), alternating the two copies, deciding the demo's
  ``rest-allow-valid-ecdsa`` event through ``lambda_handler`` with the embedded policy.

``.pyc`` files are version-specific (``cpython-311`` vs ``cpython-313``): the figures are for
the interpreter that ran them, named on each line. Asserts nothing; prints medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENT = ROOT / "events" / "rest-allow-valid-ecdsa.json"

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from authorizer.app import lambda_handler
t1 = time.perf_counter()
with open(sys.argv[3]) as f:
    response = lambda_handler(json.load(f), None)
t2 = time.perf_counter()
assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow", response
print("@@" + json.dumps({"import": t1 - t0, "first": t2 - t1}))
"""


def function_source() -> Path:
    built = ROOT / ".aws-sam" / "build" / "AuthorizerFunction"
    return built if (built / "authorizer" / "app.py").is_file() else ROOT / "src"


def copy_tree(src: Path, dst: Path, only: str | None = None) -> Path:
    """Copy without any bytecode (and, for src/, only the package)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    if only:
        shutil.copytree(src / only, dst / only, ignore=ignore)
    else:
        shutil.copytree(src, dst, ignore=ignore)
    return dst


def compile_tree(python: str, folder: Path) -> int:
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(folder)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return sum(1 for _ in folder.rglob("*.pyc"))


def one_run(python: str, function: Path, layer: Path) -> tuple[float, float, float]:
    env = {"PATH": os.environ.get("PATH", ""), "AUTHORIZER_CONFIG": "", "AUTHORIZER_LOG_STREAM": "stderr"}
    start = time.perf_counter()
    proc = subprocess.run(
        [python, "-I", "-S", "-B", "-c", CHILD, str(function), str(layer), str(EVENT)],
        capture_output=True, text=True, check=True, env=env, timeout=120,
    )  # fmt: skip
    wall = time.perf_counter() - start
    line = next(x for x in proc.stdout.splitlines() if x.startswith("@@"))
    inner = json.loads(line[2:])
    return wall * 1000, inner["import"] * 1000, inner["first"] * 1000


def bench(python: str, layer_src: Path, runs: int) -> None:
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.implementation.cache_tag)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        src = function_source()
        variants = {}
        for name in ("source", "bytecode"):
            fn = copy_tree(src, Path(tmp) / name / "function", only="authorizer")
            layer = copy_tree(layer_src, Path(tmp) / name / "layer")
            pyc = compile_tree(python, fn) + compile_tree(python, layer) if name == "bytecode" else 0
            variants[name] = (fn, layer, pyc)
        one_run(python, *variants["bytecode"][:2])  # warm the OS page cache for both
        one_run(python, *variants["source"][:2])
        results: dict[str, list[tuple[float, float, float]]] = {"source": [], "bytecode": []}
        for _ in range(runs):  # alternate, so drift hits both alike
            for name in ("source", "bytecode"):
                results[name].append(one_run(python, *variants[name][:2]))
    med = {n: [statistics.median(r[i] for r in rs) for i in range(3)] for n, rs in results.items()}
    (sw, si, sf), (bw, bi, bf) = med["source"], med["bytecode"]
    print(f"\n{version} ({python}), function from {src.relative_to(ROOT)}, layer {layer_src.relative_to(ROOT)}")
    print(f"  median of {runs} fresh processes    no .pyc (Lambda today)   with .pyc ({variants['bytecode'][2]} files)")
    print(
        f"  process start to first decision  {sw:10.1f} ms              {bw:10.1f} ms   ({sw / bw:.2f}x, -{sw - bw:.0f} ms)"
    )
    print(f"    import authorizer.app          {si:10.1f} ms              {bi:10.1f} ms")
    print(f"    first decision                 {sf:10.1f} ms              {bf:10.1f} ms")


def main() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_layer  # type: ignore[import-not-found]

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print("cold start: fresh process to first decision, function + layer without / with precompiled bytecode")
    host = build_layer.HOST_OUT
    if not build_layer.is_current(host, host=True):
        print(f"  {host.relative_to(ROOT)} is missing or stale: run `make host-layer` first")
        return
    bench(sys.executable, host / "python", args.runs)
    runtime = build_layer.find_interpreter()
    runtime_layer = ROOT / "build" / "host-layer-runtime"
    if runtime is None:
        print(f"\n  no python{build_layer.PYTHON_VERSION} here: the runtime's own figures cannot be measured")
    elif not (runtime_layer / "python").is_dir():
        print(f"\n  {runtime_layer.relative_to(ROOT)} missing: `make host-layer` builds it when python3.13 exists")
    else:
        bench(runtime, runtime_layer / "python", args.runs)


if __name__ == "__main__":
    main()
