#!/usr/bin/env python3
"""Offline supply-chain check of the Rust dependency tree against deny.toml.

Reads `cargo metadata --locked` (the resolved graph for deny.toml's targets,
normal, build and dev dependencies alike) and checks what `cargo deny check
licenses bans sources` would, for the subset of cargo-deny's format that
deny.toml uses:

- licenses: every package's SPDX expression is satisfied by the allow list
  (`OR` needs one side allowed, `AND` both; the legacy `/` means `OR`);
- bans: no denied crate; one version of each crate, except the `skip`
  entries (and a skip that no longer matches a duplicate is an error, so the
  list cannot go stale);
- sources: crates.io only (no git, no other registry).

`--self-test` runs the checks on made-up graphs that must fail, so a broken
checker cannot pass silently. Needs no network: cargo metadata works from the
lock file and the local registry cache once the project has been built.
"""

import json
import re
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def spdx_allowed(expr, allow):
    """True when the SPDX expression `expr` can be met with licenses in `allow`."""
    tokens = re.findall(r"\(|\)|[^\s()]+", expr.replace("/", " OR "))
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def primary():
        if peek() == "(":
            take()
            value = disjunction()
            if take() != ")":
                raise ValueError(f"unbalanced parentheses in {expr!r}")
            return value
        name = take()
        if peek() == "WITH":
            take()
            name = f"{name} WITH {take()}"
        return name in allow

    def conjunction():
        value = primary()
        while peek() == "AND":
            take()
            value = primary() and value
        return value

    def disjunction():
        value = conjunction()
        while peek() == "OR":
            take()
            value = conjunction() or value
        return value

    result = disjunction()
    if pos != len(tokens):
        raise ValueError(f"cannot parse license expression {expr!r}")
    return result


def version_matches(req, version):
    """cargo-deny skip versions as used here: a prefix (`0.22`, `2`) or `=x.y.z`."""
    if req.startswith("="):
        return version == req[1:]
    return version == req or version.startswith(req + ".")


def check(packages, policy):
    """Problems (strings) of `packages` (dicts: name, version, license, source) under `policy`."""
    problems = []
    allow = set(policy["licenses"]["allow"])
    for p in packages:
        lic = p.get("license")
        if not lic:
            problems.append(f"license: {p['name']} {p['version']} declares no license expression "
                            "(fix: check its license file and add a [[licenses.clarify]]-style note, or drop it)")
            continue
        try:
            ok = spdx_allowed(lic, allow)
        except ValueError as e:
            problems.append(f"license: {p['name']} {p['version']}: {e}")
            continue
        if not ok:
            problems.append(f"license: {p['name']} {p['version']} is {lic!r}, not on deny.toml's allow list "
                            "(fix: replace the crate, or add the license to [licenses].allow after a review)")

    bans = policy.get("bans", {})
    for d in bans.get("deny", []):
        for p in packages:
            if p["name"] == d["name"]:
                problems.append(f"bans: {p['name']} {p['version']} is denied ({d.get('reason', 'deny.toml')})")

    versions = defaultdict(list)
    for p in packages:
        versions[p["name"]].append(p["version"])
    skips = bans.get("skip", [])
    used = set()
    if bans.get("multiple-versions") == "deny":
        for name, vs in sorted(versions.items()):
            if len(vs) < 2:
                continue
            unskipped = []
            for v in vs:
                matched = [s for s in skips if s["name"] == name and version_matches(s["version"], v)]
                used.update((s["name"], s["version"]) for s in matched)
                if not matched:
                    unskipped.append(v)
            if len(unskipped) > 1:
                problems.append(f"bans: {name} is in the tree in versions {', '.join(sorted(vs))} "
                                "(fix: align the dependents on one version, or add a [[bans.skip]] entry with the reason)")
        for s in skips:
            if (s["name"], s["version"]) not in used:
                problems.append(f"bans: the skip entry for {s['name']} {s['version']} no longer matches a duplicate "
                                "(fix: remove it from deny.toml)")

    allowed_sources = {f"registry+{r}" for r in policy.get("sources", {}).get("allow-registry", [])}
    for p in packages:
        src = p.get("source")
        if src is not None and src not in allowed_sources:
            problems.append(f"sources: {p['name']} {p['version']} comes from {src}, not crates.io "
                            "(fix: depend on the published crate)")
    return problems


def resolved_packages(policy):
    """The packages of the resolved graph for the policy's targets (union)."""
    seen = {}
    for target in policy.get("graph", {}).get("targets", [None]):
        cmd = ["cargo", "metadata", "--locked", "--format-version", "1"]
        if target:
            cmd += ["--filter-platform", target]
        meta = json.loads(subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout)
        ids = {n["id"] for n in meta["resolve"]["nodes"]}
        for p in meta["packages"]:
            if p["id"] in ids:
                seen[p["id"]] = p
    return list(seen.values())


def self_test(policy):
    base = [{"name": "a", "version": "1.0.0", "license": "MIT OR Apache-2.0", "source": CRATES_IO}]
    cases = {
        "a copyleft license": base + [{"name": "b", "version": "1.0.0", "license": "GPL-3.0", "source": CRATES_IO}],
        "AND with one side not allowed": base + [{"name": "b", "version": "1.0.0", "license": "MIT AND GPL-2.0", "source": CRATES_IO}],
        "no license": base + [{"name": "b", "version": "1.0.0", "license": None, "source": CRATES_IO}],
        "a git source": base + [{"name": "b", "version": "1.0.0", "license": "MIT", "source": "git+https://example.invalid/b"}],
        "an unlisted duplicate": base + [{"name": "a", "version": "2.0.0", "license": "MIT", "source": CRATES_IO}],
        "a denied crate": base + [{"name": "openssl-sys", "version": "0.9.0", "license": "MIT", "source": CRATES_IO}],
    }
    test_policy = dict(policy, bans=dict(policy.get("bans", {}), skip=[]))
    failures = []
    for what, pkgs in cases.items():
        if not check(pkgs, test_policy):
            failures.append(f"self-test: {what} was not caught")
    if check(base, test_policy):
        failures.append("self-test: a clean graph was refused")
    stale = dict(test_policy, bans=dict(test_policy["bans"], skip=[{"name": "zz", "version": "1", "reason": "x"}]))
    if not check(base, stale):
        failures.append("self-test: a stale skip entry was not caught")
    if not spdx_allowed("(MIT OR Apache-2.0) AND Unicode-3.0", {"MIT", "Unicode-3.0"}):
        failures.append("self-test: a parenthesised expression was misread")
    return failures


def main():
    policy = tomllib.loads((ROOT / "deny.toml").read_text())
    problems = self_test(policy)
    packages = resolved_packages(policy)
    problems += check(packages, policy)
    for p in problems:
        print(p)
    print(f"check_deps: {len(packages)} packages, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
