"""The worker-autoscaling examples: the KEDA ScaledObject and the HPA with its
prometheus-adapter rule ask the same question with the same limits, and the
query, evaluated by promtool over made-up fleets, never asks for fewer workers
than are busy while work waits."""

import os
import re
import tempfile

import yaml

from deploy_lib import K8S, find, kinds, load_yaml_file, render, run

AUTOSCALING = os.path.join(K8S, "autoscaling")
SERIES = 'job="anthropic-work-exporter",instance="{instance}",environment_id="{env}"'


def normalize(query):
    return re.sub(r"\s+", "", query)


def fleet(env, instance="exporter-0", depth=0, pending=0, starting=0, active=0, stopping=0, polling=0):
    """Input series of one exporter's view of one environment."""
    labels = SERIES.format(instance=instance, env=env)
    series = [
        (f"anthropic_work_queue_depth{{{labels}}}", depth),
        (f"anthropic_work_queue_pending{{{labels}}}", pending),
        (f"anthropic_work_queue_workers_polling{{{labels}}}", polling),
    ]
    for state, n in (("queued", depth + pending), ("starting", starting), ("active", active),
                     ("stopping", stopping), ("stopped", 40)):
        series.append((f'anthropic_work_items{{{labels},state="{state}"}}', n))
    return [{"series": s, "values": f"{v}x5"} for s, v in series]


def scenarios(env):
    """(what, input series, workers wanted or None for no answer)."""
    return [
        ("a saturated healthy fleet (nobody polls) with work waiting scales up, not down",
         fleet(env, depth=6, starting=1, active=9, polling=0), 16),
        ("an idle fleet with no work keeps only the busy workers",
         fleet(env, active=3, polling=2), 3),
        ("claimed but unacknowledged items (pending) count as busy",
         fleet(env, pending=2, polling=0), 2),
        ("stopping items free their worker",
         fleet(env, active=1, stopping=4), 1),
        ("an empty queue asks for no workers",
         fleet(env), 0),
        ("two exporters watching the environment count it once",
         fleet(env, depth=2, active=5) + fleet(env, instance="exporter-1", depth=2, active=5), 7),
        ("another environment's queue is not counted",
         fleet(env, depth=1, active=1) + fleet("env_other", depth=50, active=50), 2),
        ("no data gives no answer (KEDA errors and holds, it does not scale to 0)",
         fleet("env_other", depth=5), None),
    ]


def promtool_case(query, env, series, want):
    samples = [] if want is None else [{"labels": f'{{environment_id="{env}"}}', "value": want}]
    return {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [{"expr": query, "eval_time": "2m", "exp_samples": samples}],
        }],
    }


def check_query_behaviour(report, promtool, query, env):
    for what, series, want in scenarios(env):
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump(promtool_case(query, env, series, want), f, sort_keys=False)
            f.flush()
            out = run([promtool, "test", "rules", f.name])
        report.check(f"query: {what}", out.returncode == 0, out.stdout[-2000:] + out.stderr[-1000:])


def check(report, kubectl, promtool):
    report.section("autoscaling: KEDA and HPA examples")
    keda = render(kubectl, os.path.join(AUTOSCALING, "keda"))
    hpa_docs = render(kubectl, os.path.join(AUTOSCALING, "hpa"))
    report.equal("keda renders the worker Deployment and a ScaledObject", kinds(keda), ["Deployment", "ScaledObject"])
    report.equal("hpa renders the worker Deployment and a HorizontalPodAutoscaler", kinds(hpa_docs),
                 ["Deployment", "HorizontalPodAutoscaler"])
    so, hpa = find(keda, "ScaledObject"), find(hpa_docs, "HorizontalPodAutoscaler")
    worker = find(keda, "Deployment")
    report.check("both scale the worker Deployment",
                 so["spec"]["scaleTargetRef"]["name"] == hpa["spec"]["scaleTargetRef"]["name"]
                 == worker["metadata"]["name"])
    report.check("the worker Deployment leaves replicas to the autoscaler", "replicas" not in worker["spec"])

    trigger = so["spec"]["triggers"][0]
    meta = trigger["metadata"]
    query = meta["query"]
    report.check("KEDA uses the Prometheus scaler", trigger["type"] == "prometheus")
    report.check("KEDA treats an empty answer as an error, not as 0", meta.get("ignoreNullValues") == "false")
    report.check("the query never uses workers_polling (0 for a saturated healthy fleet)",
                 "workers_polling" not in query)

    metric = hpa["spec"]["metrics"][0]["external"]
    env = metric["metric"]["selector"]["matchLabels"]["environment_id"]
    values = load_yaml_file(os.path.join(AUTOSCALING, "hpa", "prometheus-adapter-values.yaml"))[0]
    rule = values["rules"]["external"][0]
    report.check("the adapter serves the metric the HPA reads", rule["name"]["as"] == metric["metric"]["name"])
    report.check("the adapter rule ignores the HPA's namespace", rule["resources"].get("namespaced") is False)
    adapter_query = rule["metricsQuery"].replace("<<.LabelMatchers>>", f'environment_id="{env}"')
    report.check("the adapter's query, for the HPA's selector, is the ScaledObject's query",
                 normalize(adapter_query) == normalize(query), f"adapter: {adapter_query}\nkeda:    {query}")
    report.check("one worker per item in both (threshold = averageValue)",
                 meta["threshold"] == metric["target"]["averageValue"] and metric["target"]["type"] == "AverageValue")
    report.check("the same replica limits in both",
                 (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"])
                 == (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]))
    report.equal("the same scaling behaviour in both",
                 so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"], hpa["spec"]["behavior"])

    report.section("autoscaling: the query, evaluated by promtool")
    check_query_behaviour(report, promtool, query, env)
