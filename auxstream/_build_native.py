"""Compile the core with mypyc into ``auxstream/_native/`` (see :mod:`auxstream._native`).

``python -m auxstream._build_native [--force]``: does nothing when the build matches the
sources; otherwise compiles in a temporary folder and, only when everything compiled,
replaces ``auxstream/_native/`` with the result. When mypyc, a C compiler or the Python
headers are missing, or compiling fails, it prints a warning, removes any old build (so a
stale one cannot linger) and exits 0: auxstream then runs as pure Python.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from auxstream._native import (
    BUILT,
    COMPILED,
    EXTENSIONS,
    MANIFEST,
    NATIVE_DIR,
    PACKAGE_DIR,
    _check,
    abi_tag,
    source_hash,
    source_path,
)

_SETUP = """
import json, sys
from setuptools import Extension, setup
from mypyc.build import mypycify

extensions = json.loads(sys.argv[3])
setup(
    name="auxstream-native",
    ext_modules=mypycify(sys.argv[4:], opt_level="3", debug_level="0")
    + [
        Extension(name, [source], extra_compile_args=["-O2"])
        for name, source in extensions.items()
    ],
    script_args=sys.argv[1:3],
)
"""


def _warn(message: str) -> None:
    print(f"auxstream native build: {message}; auxstream will run as pure Python.", file=sys.stderr)


def build(force: bool = False) -> bool:
    """Compile unless fresh; True when a fresh compiled build is in place afterwards."""
    previous = os.environ.pop("AUXSTREAM_PURE", None)
    try:
        files, _ = _check()
    finally:
        if previous is not None:
            os.environ["AUXSTREAM_PURE"] = previous
    if files is not None and not force:
        print("auxstream native build: up to date")
        return True
    shutil.rmtree(NATIVE_DIR, ignore_errors=True)
    started = time.perf_counter()
    root = PACKAGE_DIR.parent
    hashes = {module: source_hash(module) for module in BUILT}
    with tempfile.TemporaryDirectory(prefix="auxstream-native-") as tmp:
        out = Path(tmp) / "lib"
        paths = [str(source_path(module)) for module in COMPILED]
        env = {**os.environ, "MYPYPATH": str(root)}
        try:
            done = subprocess.run(  # noqa: S603 - our own interpreter and setup script
                [
                    sys.executable,
                    "-c",
                    _SETUP,
                    "build_ext",
                    f"--build-lib={out}",
                    json.dumps({module: str(source_path(module)) for module in EXTENSIONS}),
                    *paths,
                ],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as exc:
            _warn(f"cannot run the compiler ({exc})")
            return False
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            _warn(f"mypyc failed (exit {done.returncode}):\n{tail}\n")
            return False
        # Every source must be unchanged since it was hashed, or the build is already stale.
        if any(source_hash(module) != digest for module, digest in hashes.items()):
            _warn("a source changed while compiling; run it again")
            return False
        built = {path.relative_to(out): path for path in out.rglob("*.so")}
        names: dict[str, str] = {}
        staging = Path(tmp) / "native"
        staging.mkdir()
        for rel, path in built.items():
            name = ".".join(rel.parts).split(".cpython-")[0].split(".abi3")[0]
            name = name.removesuffix(".so")
            flat = ".".join(rel.parts)
            shutil.copy2(path, staging / flat)
            names[name] = flat
        missing = [module for module in BUILT if module not in names]
        if missing:
            _warn(f"mypyc produced no module for {', '.join(missing)}")
            return False
        (staging / MANIFEST.name).write_text(
            json.dumps({"abi": abi_tag(), "sources": hashes, "files": names}, indent=2) + "\n",
            encoding="utf-8",
        )
        shutil.move(str(staging), NATIVE_DIR)
    # A build that does not import (a missing symbol, a broken toolchain) must not break
    # auxstream: check it in a fresh interpreter, and remove it if it fails.
    check = (
        "import importlib, auxstream._native as n\n"
        "assert n.STATUS == 'compiled', n.STATUS\n"
        "for name in n.BUILT:\n"
        "    assert importlib.import_module(name).__file__.startswith(str(n.NATIVE_DIR)), name\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "AUXSTREAM_PURE"}
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", check], cwd=root, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        shutil.rmtree(NATIVE_DIR, ignore_errors=True)
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        _warn(f"the compiled modules do not import, build removed:\n{tail}\n")
        return False
    print(
        f"auxstream native build: {len(COMPILED)} modules compiled with mypyc and "
        f"{len(EXTENSIONS)} in C in "
        f"{time.perf_counter() - started:.0f} s into {NATIVE_DIR.relative_to(root)}/"
    )
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="compile even when up to date")
    parser.add_argument("--clean", action="store_true", help="remove the build and stop")
    args = parser.parse_args()
    if args.clean:
        shutil.rmtree(NATIVE_DIR, ignore_errors=True)
        return 0
    build(args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
