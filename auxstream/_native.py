"""Load the mypyc-compiled core when it is built and matches its sources, else pure Python.

``python -m auxstream._build_native`` (``make native``; ``make test`` and ``make bench-core``
run it) compiles the hot modules listed in ``COMPILED`` with mypyc, and the C modules in
``EXTENSIONS``, into ``auxstream/_native/`` and records the SHA-256 of each source it
compiled in ``manifest.json``. The ``.py`` files
stay the source of truth: on ``import auxstream`` this module checks every recorded hash
against the current source and only then installs an import hook that loads those modules
from the compiled files. A single edited, missing or extra source, another Python, or
``AUXSTREAM_PURE=1`` in the environment, and every module is imported from its ``.py``
(mypyc compiles the modules as one group that calls across modules natively, so it is all
or nothing). A stale build prints one warning line to stderr; nothing in-tree is shadowed,
because the compiled files never sit next to the sources.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE_DIR = Path(__file__).resolve().parent
NATIVE_DIR = PACKAGE_DIR / "_native"
MANIFEST = NATIVE_DIR / "manifest.json"

COMPILED = (
    "auxstream.domain.calendar",
    "auxstream.domain.engine",
    "auxstream.domain.events",
    "auxstream.domain.outputs",
    "auxstream.domain.policy",
    "auxstream.domain.rules",
    "auxstream.domain.state",
    "auxstream.domain.timefmt",
    "auxstream.domain.timeline",
    "auxstream.domain.wording",
    "auxstream.records",
    "auxstream.replay.runner",
    "auxstream.replay.sink",
)
"""The modules compiled by mypyc: the core and replay's per-event path."""

EXTENSIONS = ("auxstream.domain.eventids", "auxstream.replay.sortfile")
"""Modules written in C (``.c`` beside the package's ``.py`` files), built and checked with
the mypyc group: an agent's event ids (``domain/eventids.c``) and replay's sorted output
files (``replay/sortfile.c``). They have no ``.py``; when the build is missing or stale,
importing one fails and its caller uses the Python equivalent (``domain/seen.py``,
``replay/sink.py``)."""

BUILT = COMPILED + EXTENSIONS

PURE_ENV = "AUXSTREAM_PURE"
"""Set to 1 to ignore the compiled modules (tests compare both)."""

STATUS = "pure"
"""``compiled`` once the hook is installed, ``pure`` otherwise (``stale: ...`` when a build
exists but no longer matches its sources)."""


def source_path(module: str) -> Path:
    suffix = ".c" if module in EXTENSIONS else ".py"
    return PACKAGE_DIR.parent.joinpath(*module.split(".")).with_suffix(suffix)


def source_hash(module: str) -> str:
    return hashlib.sha256(source_path(module).read_bytes()).hexdigest()


def abi_tag() -> str:
    return f"{sys.implementation.cache_tag}-{importlib.machinery.EXTENSION_SUFFIXES[0]}"


class _Finder(importlib.abc.MetaPathFinder):
    """Serves the compiled modules (mypyc's, its shared group library, and the C
    extensions) from NATIVE_DIR."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def _check() -> tuple[dict[str, Path] | None, str]:
    """The compiled files by module name, or None and why not."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return None, "pure"
    if not MANIFEST.is_file():
        return None, "pure"
    try:
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
        if manifest.get("abi") != abi_tag():
            return None, "stale: built for another Python"
        sources: dict[str, str] = manifest["sources"]
        if set(sources) != set(BUILT):
            return None, "stale: the list of compiled modules changed"
        for module in BUILT:
            if source_hash(module) != sources[module]:
                return None, f"stale: {source_path(module).relative_to(PACKAGE_DIR.parent)} changed"
        files = {name: NATIVE_DIR / file for name, file in manifest["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"stale: unreadable manifest ({exc})"
    if not all(file.is_file() for file in files.values()):
        return None, "stale: a compiled file is missing"
    return files, "compiled"


def install() -> str:
    """Install the import hook if the build is fresh; returns the status."""
    global STATUS
    if any(module in sys.modules for module in COMPILED):
        return STATUS  # too late to switch; whatever was imported stays
    files, STATUS = _check()
    if files is not None:
        sys.meta_path.insert(0, _Finder(files))
    elif STATUS.startswith("stale"):
        print(
            f"auxstream: compiled core not used ({STATUS.removeprefix('stale: ')}); "
            "running pure Python. `make native` rebuilds it.",
            file=sys.stderr,
        )
    return STATUS
