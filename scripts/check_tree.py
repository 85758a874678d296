#!/usr/bin/env python3
"""Refuses downloaded or built artifacts tracked by git.

Wheels, archives, packages, libraries, executables and virtualenvs never
belong in the repository (a stray wheel landed once with an unrelated
change). Checks every tracked file by name and by content (ELF, zip and gzip
magic bytes, whatever the name), plus a size cap, so a renamed binary is
caught too. `--self-test` makes sure each rule still bites.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = (".whl", ".tar.gz", ".tgz", ".tar", ".zip", ".jar", ".deb", ".rpm", ".so", ".a",
            ".dylib", ".exe", ".dll", ".pyc", ".egg", ".rlib", ".gz", ".xz", ".bz2", ".zst")
DIRS = ("target/", ".venv/", "venv/", "node_modules/", "__pycache__/", "fuzz/target/", "fuzz/corpus/")
MAGIC = {b"\x7fELF": "an ELF binary", b"PK\x03\x04": "a zip archive (wheel, jar)",
         b"\x1f\x8b": "a gzip archive", b"MZ": "a Windows executable"}
MAX_BYTES = 1 << 20  # the largest text file here (a dashboard) is well under this


def problems_of(path, head, size):
    """Why `path` (first bytes `head`, `size` bytes) must not be tracked, or None."""
    if path.endswith(SUFFIXES):
        return "a downloaded or built artifact by its name"
    if any(path.startswith(d) or f"/{d}" in path for d in DIRS):
        return "inside a build or virtualenv folder"
    for magic, what in MAGIC.items():
        if head.startswith(magic):
            return f"{what} by its content"
    if size > MAX_BYTES:
        return f"{size} bytes, over the {MAX_BYTES}-byte cap for tracked files"
    return None


def self_test():
    cases = [("grafana-0.0.1-py3-none-any.whl", b"PK\x03\x04", 1156),
             ("tools/exporter", b"\x7fELF\x02", 10),
             ("notes.txt", b"plain", MAX_BYTES + 1),
             (".venv/bin/python", b"#!", 10)]
    out = [f"self-test: {p} was not refused" for p, h, s in cases if problems_of(p, h, s) is None]
    if problems_of("src/main.rs", b"//! Entry point", 1000) is not None:
        out.append("self-test: src/main.rs was refused")
    return out


def main():
    problems = self_test()
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        p = ROOT / f
        if not p.is_file():
            continue  # deleted in the work tree, not yet committed
        with open(p, "rb") as fh:
            head = fh.read(8)
        why = problems_of(f, head, p.stat().st_size)
        if why:
            problems.append(f"{f}: {why} (fix: git rm --cached it and let the test command install or build it)")
    for p in problems:
        print(p)
    print(f"check_tree: {len([f for f in files if f])} tracked files, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
