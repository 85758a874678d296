"""The container image, without a Docker engine: the Dockerfile (hadolint and its
structure), the build context .dockerignore leaves, the libraries the binary needs
against what the distroless runtime has, and the HEALTHCHECK subcommand for real."""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from deploy_lib import BINARY, ROOT, cargo_package, run, version_tuple

ENTRYPOINT = f"/{BINARY}"
OCI_LABELS = ("title", "description", "version", "revision", "licenses", "source")
# What gcr.io/distroless/cc-debian12 provides: Debian 12's glibc and libgcc
# (plus libstdc++ and libgomp, which this binary does not use).
RUNTIME_LIBS = {
    "libc.so.6", "libm.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2",
    "libpthread.so.0", "libdl.so.2", "librt.so.1", "libstdc++.so.6",
}
DEBIAN12_GLIBC = (2, 36)


def parse_dockerfile(path):
    """[(INSTRUCTION, arguments)] with continuations joined and comments dropped."""
    instructions, pending = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            if pending and line.lstrip().startswith("#"):
                continue  # a comment inside a continued instruction
            line, pending = pending + line, ""
            keyword, _, rest = line.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def stages(instructions):
    out = []
    for keyword, rest in instructions:
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, rest))
    return out


def check_dockerfile(report, hadolint):
    path = os.path.join(ROOT, "Dockerfile")
    lint = run([hadolint, "--failure-threshold", "style", path])
    report.check("hadolint finds nothing in the Dockerfile", lint.returncode == 0, lint.stdout + lint.stderr)

    instructions = parse_dockerfile(path)
    built = stages(instructions)
    report.check("the Dockerfile is multi-stage", len(built) >= 2, f"{len(built)} stage(s)")
    build, final = built[0], built[-1]
    runs = " ".join(rest for k, rest in build if k == "RUN")
    report.check(
        "the build stage runs cargo build --release --locked",
        re.search(r"cargo build\b[^&;]*--release", runs) and re.search(r"cargo build\b[^&;]*--locked", runs),
        runs,
    )
    pkg = cargo_package()
    args = dict(
        rest.split("=", 1) if "=" in rest else (rest, "")
        for k, rest in instructions
        if k == "ARG"
    )
    report.check(
        f"the builder's Rust ({args.get('RUST_VERSION')}) is at least Cargo.toml's rust-version",
        version_tuple(args.get("RUST_VERSION", "0")) >= version_tuple(pkg["rust-version"]),
    )
    final_from = final[0][1]
    report.check("the runtime image is distroless cc", "distroless/cc" in final_from, final_from)

    def one(keyword):
        return next((rest for k, rest in final if k == keyword), None)

    user = one("USER") or ""
    report.check(
        "the runtime user is numeric and not root",
        re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", user) is not None,
        f"USER {user!r}: Kubernetes' runAsNonRoot can only verify a numeric user",
    )
    report.check("EXPOSE 9781", "9781" in (one("EXPOSE") or "").split(), one("EXPOSE"))
    health = one("HEALTHCHECK") or ""
    cmd = health.split("CMD", 1)[1].strip() if "CMD" in health else "null"
    report.check(
        "HEALTHCHECK runs the binary's healthcheck subcommand (exec form, no shell)",
        json.loads(cmd) == [ENTRYPOINT, "healthcheck"],
        health,
    )
    report.check("ENTRYPOINT is the binary (exec form)", json.loads(one("ENTRYPOINT") or "null") == [ENTRYPOINT])
    copies = [rest for k, rest in final if k == "COPY" and "--from=" in rest]
    report.check(
        "the binary is copied from the build stage to the ENTRYPOINT path",
        any(rest.split()[-1] == ENTRYPOINT for rest in copies),
        copies,
    )
    labels = {}
    for k, rest in final:
        if k == "LABEL":
            labels.update(pair.split("=", 1) for pair in shlex.split(rest))
    missing = [name for name in OCI_LABELS if f"org.opencontainers.image.{name}" not in labels]
    report.check("OCI labels are set", not missing, f"missing: {missing}")
    report.check(
        f"ARG VERSION equals Cargo.toml's version ({pkg['version']})",
        args.get("VERSION") == pkg["version"],
        f"Dockerfile has {args.get('VERSION')!r}: bump it with Cargo.toml",
    )
    report.check(
        "the licenses label equals Cargo.toml's license",
        labels.get("org.opencontainers.image.licenses") == pkg["license"],
    )


def dockerignore_patterns():
    patterns = []
    with open(os.path.join(ROOT, ".dockerignore"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                negate = line.startswith("!")
                pattern = line.lstrip("!").strip("/")
                regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
                regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
                # Docker excludes a directory's contents when it matches the directory.
                patterns.append((negate, re.compile(f"^{regex}(/.*)?$")))
    return patterns


def context_files():
    """Files Docker sends as the build context, as .dockerignore leaves them."""
    patterns = dockerignore_patterns()
    prune = not any(negate for negate, _ in patterns)

    def excluded(rel):
        verdict = False
        for negate, regex in patterns:
            if regex.match(rel):
                verdict = not negate
        return verdict

    files = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = os.path.relpath(dirpath, ROOT)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        if prune:
            dirnames[:] = [d for d in dirnames if not excluded(rel_dir + d)]
        files += [rel_dir + f for f in filenames if not excluded(rel_dir + f)]
    return sorted(files)


def check_context(report):
    files = context_files()
    tracked = set(run(["git", "ls-files", "src", "Cargo.toml", "Cargo.lock"]).stdout.split())
    missing = sorted(tracked - set(files))
    report.check("the build context holds Cargo.toml, Cargo.lock and all of src/", not missing, missing)
    leaked = [f for f in files if f.split("/")[0] in ("target", ".git", ".venv")]
    report.check("the build context leaves out target/, .git and .venv", not leaked, leaked[:5])
    with tempfile.TemporaryDirectory() as tmp:
        for rel in files:
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), os.path.join(tmp, rel))
        # Loads the manifest and every declared target from the context alone,
        # then stops at the made-up --bin: nothing is compiled.
        out = run(
            ["cargo", "build", "--release", "--locked", "--offline", "--bin", "context-probe"],
            cwd=tmp,
            env={**os.environ, "CARGO_TARGET_DIR": os.path.join(tmp, "target")},
        )
        report.check(
            "cargo loads the package from the build context alone",
            "no bin target named" in out.stderr and BINARY in out.stderr,
            out.stderr[-2000:],
        )


def check_binary_libraries(report, binary):
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run(["readelf", "-d", binary]).stdout))
    report.check(
        "the binary needs only libraries distroless cc-debian12 has",
        needed and needed <= RUNTIME_LIBS,
        f"needs {sorted(needed)}; extra: {sorted(needed - RUNTIME_LIBS)}",
    )
    versions = {version_tuple(v) for v in re.findall(r"GLIBC_([\d.]+)", run(["objdump", "-T", binary]).stdout)}
    newest = max(versions, default=(0,))
    report.check(
        f"the binary needs glibc <= 2.36 (Debian 12); newest symbol: {'.'.join(map(str, newest))}",
        newest <= DEBIAN12_GLIBC,
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_nonroot():
    # The image's user, so the check also proves the binary needs no root.
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(65532)
        os.setuid(65532)


def check_healthcheck(report, binary):
    """What Docker's HEALTHCHECK does, against a real exporter (the demo) run as uid 65532."""
    address = f"127.0.0.1:{free_port()}"
    health = [binary, "healthcheck", "--web.listen-address", address]
    # Copied where uid 65532 can execute it, like the image's /anthropic-work-exporter.
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        exe = os.path.join(tmp, BINARY)
        shutil.copy2(binary, exe)
        # The demo writes the simulator's credentials: into a directory of the user's own.
        own = os.path.join(tmp, "home")
        os.mkdir(own)
        if os.getuid() == 0:
            os.chown(own, 65532, 65532)
        demo = subprocess.Popen(
            [exe, "demo", "--web.listen-address", address, "--environments", "2",
             "--credentials-out", os.path.join(own, "credentials.json")],
            cwd="/", env={"PATH": "/usr/bin:/bin"}, preexec_fn=as_nonroot,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            deadline, healthy = time.monotonic() + 30, False
            while time.monotonic() < deadline and demo.poll() is None:
                if run(health).returncode == 0:
                    healthy = True
                    break
                time.sleep(0.2)
            report.check("healthcheck exits 0 against a running exporter (run as uid 65532)", healthy)
        finally:
            demo.send_signal(signal.SIGTERM)
            try:
                code = demo.wait(timeout=15)
            except subprocess.TimeoutExpired:
                demo.kill()
                code = demo.wait()
        report.check("the exporter exits 0 on SIGTERM", code == 0, f"exit {code}: {demo.stderr.read()[-1500:]}")
    down = run(health)
    report.check("healthcheck fails when nothing listens", down.returncode != 0, down.stdout + down.stderr)


def check(report, hadolint, binary):
    report.section("image: Dockerfile")
    check_dockerfile(report, hadolint)
    report.section("image: build context (.dockerignore)")
    check_context(report)
    report.section("image: the binary in the runtime image")
    if not report.check(f"the binary exists ({binary})", os.access(binary, os.X_OK), "cargo build --release first"):
        return
    check_binary_libraries(report, binary)
    check_healthcheck(report, binary)
