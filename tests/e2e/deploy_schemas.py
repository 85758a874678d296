"""Every rendered manifest against the Kubernetes API's own JSON schemas (the
kubernetes-validate package ships them per release), strictly: an unknown or
misspelt field fails, as does a number where the API wants a string. Checked
against 1.28, the oldest release the sharded overlay supports (the pod-index
label), and the newest the package knows."""

import os

from deploy_lib import K8S, RENDERED, load_yaml_file

# Custom resources: no schema in the package; deploy_k8s/deploy_autoscaling check their structure.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}
OLDEST = "1.28.0"


def check(report):
    report.section("schemas: every rendered manifest, strict")
    import kubernetes_validate as kv  # installed by deploy.sh

    versions = [OLDEST, kv.latest_version()]
    RENDERED["examples/secrets.example.yaml"] = load_yaml_file(os.path.join(K8S, "examples", "secrets.example.yaml"))
    for label, docs in RENDERED.items():
        for version in versions:
            errors, skipped = [], set()
            for doc in docs:
                if doc["kind"] in CUSTOM_KINDS:
                    skipped.add(doc["kind"])
                    continue
                try:
                    kv.validate(doc, version, strict=True)
                except kv.ValidationError as e:
                    path = ".".join(str(p) for p in e.path)
                    errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {e.message}")
                except kv.SchemaNotFoundError as e:
                    errors.append(f"{doc['kind']}: no schema ({e})")
            custom = f" ({', '.join(sorted(skipped))}: custom, not schema-checked)" if skipped else ""
            report.check(f"{label} matches the Kubernetes {version} API schemas{custom}", not errors,
                         "\n".join(errors))
