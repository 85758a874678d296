"""Helpers shared by the deployment checks: the report, commands, rendering, lookups."""

import copy
import difflib
import os
import re
import subprocess
import tempfile
import tomllib

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
K8S = os.path.join(ROOT, "deploy", "kubernetes")
BINARY = "anthropic-work-exporter"


class Report:
    """One line per check; failures are collected, never raised."""

    def __init__(self):
        self.passed = 0
        self.failed = []

    def section(self, title):
        print(f"\n-- {title}", flush=True)

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok    {name}", flush=True)
        else:
            self.failed.append(name)
            print(f"FAIL  {name}", flush=True)
            if detail:
                print("      " + str(detail).rstrip().replace("\n", "\n      "), flush=True)
        return bool(ok)

    def equal(self, name, got, want):
        """check() that shows both sides, or a diff for structures, on failure."""
        if got == want:
            return self.check(name, True)
        if isinstance(got, (dict, list)) and isinstance(want, (dict, list)):
            detail = "".join(
                difflib.unified_diff(
                    dump(want).splitlines(keepends=True), dump(got).splitlines(keepends=True), "want", "got"
                )
            )
        else:
            detail = f"got {got!r}, want {want!r}"
        return self.check(name, False, detail)


def run(cmd, **kw):
    """Runs a command, capturing output; never raises on a non-zero exit."""
    kw.setdefault("cwd", ROOT)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def dump(data):
    return yaml.safe_dump(data, sort_keys=True, width=4096)


def load_yaml_file(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# Everything render() produced, by what was rendered: the schema check reads it.
RENDERED = {}


def render(kubectl, path, label=None):
    """`kubectl kustomize PATH` as a list of documents; raises with kustomize's message."""
    out = run([kubectl, "kustomize", path])
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {os.path.relpath(path, ROOT)} failed:\n{out.stderr}")
    docs = [d for d in yaml.safe_load_all(out.stdout) if d is not None]
    RENDERED[label or os.path.relpath(path, K8S)] = docs
    return docs


def kinds(docs):
    return sorted(d["kind"] for d in docs)


def find(docs, kind, name=None):
    """The one document of this kind (and name); None when absent."""
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    if len(found) > 1:
        raise RuntimeError(f"{len(found)} {kind} named {name!r}")
    return found[0] if found else None


def container(pod_spec, name):
    return next((c for c in pod_spec.get("containers", []) if c["name"] == name), None)


def env_map(c):
    return {e["name"]: e for e in c.get("env", [])}


def cargo_package():
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        return tomllib.load(f)["package"]


def version_tuple(text):
    return tuple(int(x) for x in re.findall(r"\d+", text))


def deepcopy(x):
    return copy.deepcopy(x)


def exporter_flags(binary):
    """Long flags `serve` accepts, read from its --help."""
    out = run([binary, "serve", "--help"])
    if out.returncode != 0:
        raise RuntimeError(f"{binary} serve --help failed: {out.stderr}")
    return set(re.findall(r"--([a-z][a-z0-9.-]*)", out.stdout))


def binary_path(arg):
    return arg or os.environ.get("WORK_EXPORTER_BIN") or os.path.join(ROOT, "target", "release", BINARY)


# How deploy/README.md's overlays name this repository: a clone beside the overlay.
CLONE = "../anthropic-work-exporter/"


def doc_block(marker, doc=os.path.join("deploy", "README.md")):
    """The fenced block that follows `<!-- marker -->` in a document; None when absent."""
    with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
        text = f.read()
    m = re.search(rf"<!-- {re.escape(marker)} -->\s*```[a-z]*\n(.*?)```", text, re.S)
    return m.group(1) if m else None


def render_doc_overlay(kubectl, kustomization, label):
    """Renders an overlay from the docs as written, its `../anthropic-work-exporter/...`
    resources and components pointed at this checkout (kustomize wants them relative)."""
    with tempfile.TemporaryDirectory() as tmp:
        def local(path):
            return os.path.relpath(os.path.join(ROOT, path[len(CLONE):]), tmp) if path.startswith(CLONE) else path
        kustomization = dict(kustomization)
        for field in ("resources", "components"):
            if kustomization.get(field):
                kustomization[field] = [local(p) for p in kustomization[field]]
        with open(os.path.join(tmp, "kustomization.yaml"), "w") as f:
            yaml.safe_dump(kustomization, f)
        return render(kubectl, tmp, label)
