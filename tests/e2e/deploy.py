#!/usr/bin/env python3
"""Checks the deployment artefacts (issue 6): the container image recipe, the
Kubernetes manifests as kustomize renders them, and the worker-autoscaling
examples, and every rendered manifest against the Kubernetes API schemas.
deploy.sh installs the tools and runs this; one line per check, exit
status 1 when any failed.

    python3 tests/e2e/deploy.py --kubectl kubectl --hadolint hadolint [--promtool promtool] [--bin PATH]
"""

import argparse
import sys
import traceback

import deploy_autoscaling
import deploy_image
import deploy_k8s
import deploy_schemas
import deploy_stack
from deploy_lib import Report, binary_path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubectl", required=True, help="a kubectl with `kustomize` built in")
    parser.add_argument("--hadolint", required=True)
    parser.add_argument("--promtool", default="promtool")
    parser.add_argument("--bin", help="the exporter (default: $WORK_EXPORTER_BIN, else target/release)")
    args = parser.parse_args()
    binary = binary_path(args.bin)

    report = Report()
    sections = (
        ("image", lambda: deploy_image.check(report, args.hadolint, binary)),
        ("kubernetes", lambda: deploy_k8s.check(report, args.kubectl, args.promtool, binary)),
        ("stack", lambda: deploy_stack.check(report, args.kubectl, args.promtool, binary)),
        ("autoscaling", lambda: deploy_autoscaling.check(report, args.kubectl, args.promtool)),
        ("schemas", lambda: deploy_schemas.check(report)),
    )
    for name, run_section in sections:
        try:
            run_section()
        except Exception:  # a broken section is one failure; the others still run
            report.check(f"{name}: the section ran to the end", False, traceback.format_exc())

    print(f"\ndeploy checks: {report.passed} passed, {len(report.failed)} failed")
    for name in report.failed:
        print(f"  failed: {name}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
