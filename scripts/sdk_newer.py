"""Prints one line when PyPI offers an `anthropic` SDK newer than the one pinned.

Usage: python scripts/sdk_newer.py REQUIREMENTS_TXT

./scripts/test runs it in the background and prints its line at the end: a
reminder to pin the new release (tests/requirements.txt) and run the SDK
suites on it, never a failure. Prints nothing when PyPI cannot be reached
within 5 s, or when the pin is the newest.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request


def version(v: str) -> tuple[int, ...] | None:
    """A final release's numbers (pre-releases and dev builds: None)."""
    return tuple(int(p) for p in v.split(".")) if re.fullmatch(r"\d+(\.\d+)*", v) else None


def main() -> int:
    pinned = None
    for line in open(sys.argv[1]):
        m = re.match(r"\s*anthropic==(\S+)", line)
        if m:
            pinned = m.group(1)
    if pinned is None or version(pinned) is None:
        return 0
    try:
        with urllib.request.urlopen("https://pypi.org/pypi/anthropic/json", timeout=5) as resp:
            releases = json.load(resp)["releases"]
    except Exception:  # noqa: BLE001 - offline or PyPI changed: say nothing
        return 0
    newer = sorted(
        (version(v), v)
        for v, files in releases.items()
        if version(v) and files and version(v) > version(pinned)
        and not all(f.get("yanked") for f in files)
    )
    if newer:
        print(
            f"note: PyPI offers anthropic {newer[-1][1]}, newer than the pinned {pinned}: "
            "pin it in tests/requirements.txt and run the SDK suites on it (not a failure)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
