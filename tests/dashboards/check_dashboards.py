#!/usr/bin/env python3
"""Checks the Grafana dashboards in dashboards/ (standard library only).

  check_dashboards.py structure [--root DIR]
      What Grafana needs to import the JSON unchanged (uid, schemaVersion, panel
      ids and grid positions, the `datasource` and `environment` variables, every
      datasource reference = ${datasource}, units and thresholds on every panel),
      plus the project's own rules: runbook links point at real alerts and
      runbook anchors, dashboard links point at real uids, every metric a query
      names exists in docs/metrics.md.

  check_dashboards.py selftest [--root DIR]
      Breaks copies of the dashboards on purpose and requires `structure` to
      notice each fault (so a green run means something).

  check_dashboards.py live --prometheus URL --environments ID,ID,... [--root DIR]
      Resolves every template variable against a real Prometheus, substitutes
      the variables, and runs every panel target (and annotation query) through
      /api/v1/query. Each must parse; each must return at least one non-NaN
      sample unless its panel is marked "Empty when healthy: <reason>" in its
      description. Queries without data are retried until --deadline.

Exit status 0 when everything holds, 1 otherwise.
"""

import argparse
import copy
import glob
import json
import math
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DS_REF = {"type": "prometheus", "uid": "${datasource}"}
EXPECTED_UIDS = {"awe-overview", "awe-environment", "awe-exporter"}
TAG = "anthropic-work-exporter"
# The marker a panel's description carries when its queries may return nothing
# on a healthy system. Visible to the operator too: empty is then normal.
EMPTY_MARKER = "Empty when healthy:"
MAX_ALLOWED_EMPTY = 3
SCHEMA_RANGE = (36, 41)
PANEL_TYPES = {"row", "stat", "timeseries", "table", "heatmap", "state-timeline", "gauge", "bargauge", "text"}
# Units Grafana knows that these dashboards may use; "suffix:<text>" is Grafana's custom unit.
UNITS = {"none", "short", "s", "ms", "bytes", "percentunit", "percent", "reqps", "ops", "opm", "dateTimeAsIso"}
# Series that are not the exporter's but that panels legitimately query.
FOREIGN_METRICS = {"up", "scrape_duration_seconds", "ALERTS"}
# Grafana's built-in variables and what the live check substitutes for them.
BUILTINS = {
    "__rate_interval": "30s",
    "__rate_interval_ms": "30000",
    "__interval": "10s",
    "__interval_ms": "10000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}
VAR_RE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)(?::[\w]+)?\]\]|\$(\w+)")


class Report:
    def __init__(self):
        self.errors = []

    def error(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def ok(self):
        return not self.errors


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

def load_dashboards(root):
    paths = sorted(glob.glob(os.path.join(root, "dashboards", "*.json")))
    out = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            out.append((os.path.relpath(p, root), json.load(f)))
    return out


def all_panels(panels):
    """Every panel, rows' nested panels included."""
    for p in panels:
        yield p
        for child in p.get("panels", []) or []:
            yield child


def query_panels(dash):
    return [p for p in all_panels(dash.get("panels", [])) if p.get("type") != "row"]


def allowed_empty_reason(panel):
    desc = panel.get("description") or ""
    i = desc.find(EMPTY_MARKER)
    if i < 0:
        return None
    return desc[i + len(EMPTY_MARKER):].strip()


def documented_metrics(root):
    """Metric names from docs/metrics.md -> type."""
    path = os.path.join(root, "docs", "metrics.md")
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(\w+)\s*\|", line)
            if m:
                out[m.group(1)] = m.group(2)
    return out


def recorded_rules(root):
    """Names the rule files in alerts/ record."""
    names = set()
    for p in glob.glob(os.path.join(root, "alerts", "*.yml")):
        with open(p, encoding="utf-8") as f:
            names.update(re.findall(r"^\s*-?\s*record:\s*['\"]?([\w:]+)", f.read(), re.M))
    return names


def alert_rules(root):
    """(alert names, runbook base URLs) from alerts/*.yml, or None when alerts/ is absent."""
    d = os.path.join(root, "alerts")
    if not os.path.isdir(d):
        return None
    names, bases = set(), set()
    for p in sorted(glob.glob(os.path.join(d, "*.yml")) + glob.glob(os.path.join(d, "*.yaml"))):
        with open(p, encoding="utf-8") as f:
            text = f.read()
        names.update(re.findall(r"^\s*-\s*alert:\s*['\"]?(\w+)", text, re.M))
        for url in re.findall(r"runbook_url:\s*['\"]?([^'\"\s#]+)#", text):
            bases.add(url)
    return names, bases


def github_anchors(path):
    anchors = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
                anchors.add(slug)
            anchors.update(re.findall(r"""(?:id|name)=["']([^"']+)["']""", line))
    return anchors


# --------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------

def check_unit(rep, where, unit):
    if not isinstance(unit, str) or not unit:
        rep.error(where, "no unit (fieldConfig.defaults.unit)")
    elif not (unit in UNITS or (unit.startswith("suffix:") and len(unit) > 7)):
        rep.error(where, f"unknown unit {unit!r}")


def check_thresholds(rep, where, th):
    steps = (th or {}).get("steps") if isinstance(th, dict) else None
    if not steps:
        rep.error(where, "no thresholds (fieldConfig.defaults.thresholds.steps)")
        return
    if steps[0].get("value") is not None:
        rep.error(where, "first threshold step must have value null (the base)")
    values = [s.get("value") for s in steps[1:]]
    if any(not isinstance(v, (int, float)) for v in values) or values != sorted(values):
        rep.error(where, f"threshold values must be numbers in ascending order: {values}")
    if th.get("mode") not in ("absolute", "percentage"):
        rep.error(where, f"thresholds.mode must be absolute or percentage, not {th.get('mode')!r}")


def walk_strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from walk_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk_strings(v)


def walk_links(obj):
    """Every {url: ...} link object anywhere (dashboard, panel and data links)."""
    if isinstance(obj, dict):
        if isinstance(obj.get("url"), str):
            yield obj
        for v in obj.values():
            yield from walk_links(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk_links(v)


def check_variables(rep, name, dash):
    tl = dash.get("templating", {}).get("list")
    if not isinstance(tl, list):
        rep.error(name, "templating.list missing")
        return
    names = [v.get("name") for v in tl]
    if len(names) != len(set(names)):
        rep.error(name, f"duplicate variable names: {names}")
    byname = {v.get("name"): v for v in tl}
    ds = byname.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        rep.error(name, "needs a variable `datasource` of type datasource with query prometheus")
    env = byname.get("environment")
    if not env:
        rep.error(name, "needs a variable `environment`")
    else:
        q = env.get("query")
        qs = q.get("query") if isinstance(q, dict) else q
        if env.get("type") != "query" or not env.get("multi"):
            rep.error(name, "variable environment must be a multi-select query variable")
        if not isinstance(qs, str) or not re.fullmatch(
                r"label_values\(\s*anthropic_work_up(\{[^}]*\})?\s*,\s*environment_id\s*\)", qs):
            rep.error(name, f"variable environment must be label_values(anthropic_work_up, environment_id), not {qs!r}")
    for v in tl:
        where = f"{name}: variable {v.get('name')}"
        if v.get("type") == "query":
            if v.get("datasource") != DS_REF:
                rep.error(where, f"datasource must be {DS_REF}, is {v.get('datasource')}")
            q = v.get("query")
            qs = q.get("query") if isinstance(q, dict) else q
            if not isinstance(qs, str) or not qs.strip():
                rep.error(where, "empty query")
            elif v.get("definition") not in (None, qs):
                rep.error(where, f"definition {v.get('definition')!r} differs from the query {qs!r}")
        elif v.get("type") not in ("datasource", "constant", "custom", "interval", "textbox"):
            rep.error(where, f"unexpected variable type {v.get('type')!r}")


def check_grid(rep, name, panels):
    rects = []
    for p in panels:
        where = f"{name}: panel {p.get('id')} {p.get('title')!r}"
        g = p.get("gridPos")
        if not isinstance(g, dict) or any(not isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
            rep.error(where, f"gridPos needs integer h, w, x, y: {g}")
            continue
        if not (1 <= g["w"] <= 24 and g["h"] >= 1 and g["x"] >= 0 and g["y"] >= 0 and g["x"] + g["w"] <= 24):
            rep.error(where, f"gridPos outside the 24-column grid: {g}")
        for other, og in rects:
            if (g["x"] < og["x"] + og["w"] and og["x"] < g["x"] + g["w"]
                    and g["y"] < og["y"] + og["h"] and og["y"] < g["y"] + g["h"]):
                rep.error(where, f"overlaps panel {other}")
        rects.append((p.get("id"), g))


def check_structure(root, dashboards=None):
    rep = Report()
    dashboards = dashboards if dashboards is not None else load_dashboards(root)
    if not dashboards:
        rep.error("dashboards/", "no *.json dashboards")
        return rep, []
    metrics = documented_metrics(root)
    recorded = recorded_rules(root)
    alerts = alert_rules(root)
    runbooks_md = os.path.join(root, "docs", "runbooks.md")
    anchors = github_anchors(runbooks_md) if os.path.exists(runbooks_md) else None
    uids = {d.get("uid") for _, d in dashboards}
    titles = [d.get("title") for _, d in dashboards]
    if uids != EXPECTED_UIDS:
        rep.error("dashboards/", f"uids must be exactly {sorted(EXPECTED_UIDS)}, are {sorted(map(str, uids))}")
    if len(titles) != len(set(titles)):
        rep.error("dashboards/", f"duplicate titles: {titles}")
    runbook_alerts_linked = set()
    runbook_bases = set()
    allowed = []

    for name, dash in dashboards:
        uid = dash.get("uid")
        if not isinstance(uid, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid):
            rep.error(name, f"uid must be a stable string of at most 40 characters, is {uid!r}")
        if not dash.get("title"):
            rep.error(name, "no title")
        sv = dash.get("schemaVersion")
        if not isinstance(sv, int) or not SCHEMA_RANGE[0] <= sv <= SCHEMA_RANGE[1]:
            rep.error(name, f"schemaVersion must be in {SCHEMA_RANGE}, is {sv!r}")
        if dash.get("id") is not None:
            rep.error(name, "id must be null (Grafana assigns it on import)")
        if not isinstance(dash.get("version"), int):
            rep.error(name, "version must be an integer")
        if TAG not in (dash.get("tags") or []):
            rep.error(name, f"tags must include {TAG!r} (the dashboards link to each other by tag)")
        t = dash.get("time") or {}
        if not t.get("from") or not t.get("to"):
            rep.error(name, "time.from/time.to missing")
        if "__inputs" in dash or any("${DS_" in s for s in walk_strings(dash)):
            rep.error(name, "uses an export-for-sharing ${DS_...} input: provisioning cannot fill it; use ${datasource}")
        check_variables(rep, name, dash)

        # Annotations: the built-in one, and alert annotations on ${datasource}.
        ann = dash.get("annotations", {}).get("list")
        if not isinstance(ann, list):
            rep.error(name, "annotations.list missing")
            ann = []
        if not any(a.get("datasource") == DS_REF and "ALERTS" in (a.get("expr") or "") for a in ann):
            rep.error(name, "needs an annotation query over ALERTS (when alerts fired)")
        for a in ann:
            if a.get("builtIn"):
                continue
            if a.get("datasource") != DS_REF:
                rep.error(f"{name}: annotation {a.get('name')!r}", f"datasource must be {DS_REF}")
            if not (a.get("expr") or "").strip():
                rep.error(f"{name}: annotation {a.get('name')!r}", "no expr")

        # Dashboard links: one to the runbooks.
        dlinks = dash.get("links") or []
        if not any(isinstance(l.get("url"), str) and "runbooks" in l["url"] for l in dlinks):
            rep.error(name, "needs a dashboard link to the runbooks")

        panels = dash.get("panels")
        if not isinstance(panels, list) or not panels:
            rep.error(name, "no panels")
            continue
        var_names = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
        every = list(all_panels(panels))
        ids = [p.get("id") for p in every]
        if any(not isinstance(i, int) for i in ids):
            rep.error(name, f"every panel needs an integer id: {ids}")
        dup = sorted({i for i in ids if ids.count(i) > 1 and isinstance(i, int)})
        if dup:
            rep.error(name, f"duplicate panel ids {dup}")
        collapsed = any(p.get("type") == "row" and p.get("collapsed") for p in panels)
        check_grid(rep, name, panels if not collapsed else [p for p in panels if p.get("type") == "row"])

        for p in every:
            where = f"{name}: panel {p.get('id')} {p.get('title')!r}"
            if p.get("type") not in PANEL_TYPES:
                rep.error(where, f"unknown panel type {p.get('type')!r}")
            if not p.get("title"):
                rep.error(where, "no title")
            if p.get("type") == "row":
                continue
            if not (p.get("description") or "").strip():
                rep.error(where, "no description (the operator's first help)")
            if p.get("datasource") != DS_REF:
                rep.error(where, f"datasource must be {DS_REF}, is {p.get('datasource')}")
            fc = p.get("fieldConfig") or {}
            defaults = fc.get("defaults") or {}
            check_unit(rep, where, defaults.get("unit"))
            check_thresholds(rep, where, defaults.get("thresholds"))
            for o in fc.get("overrides") or []:
                for prop in o.get("properties") or []:
                    if prop.get("id") == "unit":
                        check_unit(rep, f"{where} override {o.get('matcher')}", prop.get("value"))
                    if prop.get("id") == "thresholds":
                        check_thresholds(rep, f"{where} override {o.get('matcher')}", prop.get("value"))
            tgts = p.get("targets") or []
            if not tgts:
                rep.error(where, "no targets")
            refs = [tg.get("refId") for tg in tgts]
            if len(refs) != len(set(refs)) or any(not r for r in refs):
                rep.error(where, f"refIds must be set and unique: {refs}")
            for tg in tgts:
                tw = f"{where} [{tg.get('refId')}]"
                if tg.get("datasource") != DS_REF:
                    rep.error(tw, f"datasource must be {DS_REF}, is {tg.get('datasource')}")
                expr = tg.get("expr")
                if not isinstance(expr, str) or not expr.strip():
                    rep.error(tw, "no expr")
                    continue
                for m in VAR_RE.finditer(expr):
                    var = m.group(1) or m.group(2) or m.group(3)
                    if var not in var_names and var not in BUILTINS:
                        rep.error(tw, f"uses ${var}, which is neither a variable of this dashboard nor a Grafana built-in")
                if tg.get("hide"):
                    rep.error(tw, "hidden target: remove it rather than hide it")
                # A recording rule (level:metric:operations) must be one the
                # shipped rules record; its middle part is no exporter metric.
                for rule in re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", expr):
                    if rule not in recorded:
                        rep.error(tw, f"recording rule {rule} is not recorded in alerts/")
                expr = re.sub(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", "", expr)
                for metric in re.findall(r"\b(?:anthropic_work_[a-z0-9_]+|process_[a-z0-9_]+)\b", expr):
                    base = re.sub(r"_(bucket|count|sum)$", "", metric)
                    if metric in metrics or metric.startswith("process_"):
                        continue
                    if base != metric and metrics.get(base) == "histogram":
                        continue
                    rep.error(tw, f"metric {metric} is not in docs/metrics.md")
            reason = allowed_empty_reason(p)
            if reason is not None:
                if len(reason) < 20:
                    rep.error(where, f"'{EMPTY_MARKER}' needs a reason")
                allowed.append((name, p.get("id"), p.get("title"), reason))

        # Every link: runbook anchors and dashboard uids.
        for l in walk_links(dash):
            url = l["url"]
            if "runbooks" in url and "#" in url:
                base, anchor = url.split("#", 1)
                runbook_bases.add(base)
                if anchor != anchor.lower():
                    rep.error(name, f"runbook anchor must be the lowercase alert name: {url}")
                if alerts is not None:
                    known = {a.lower(): a for a in alerts[0]}
                    if anchor not in known:
                        rep.error(name, f"runbook link to {anchor!r}, which is no alert in alerts/")
                    else:
                        runbook_alerts_linked.add(known[anchor])
                if anchors is not None and anchor not in anchors:
                    rep.error(name, f"docs/runbooks.md has no anchor {anchor!r}")
            m = re.match(r"/d/([^/?]+)", url)
            if m and m.group(1) not in uids:
                rep.error(name, f"link to unknown dashboard uid {m.group(1)!r}: {url}")
        for p in every:
            if "__data.fields.drilldown_url" in json.dumps(p.get("fieldConfig", {})):
                if not any("anthropic_work_environment_info" in (t.get("expr") or "") and "drilldown_url" in t.get("expr", "")
                           for t in p.get("targets") or []):
                    rep.error(f"{name}: panel {p.get('id')}", "links to drilldown_url but no target keeps that label")

    if alerts is not None:
        names, bases = alerts
        missing = sorted(set(names) - runbook_alerts_linked)
        if missing:
            rep.error("dashboards/", f"no panel links to the runbook of {missing}")
        if bases and runbook_bases and runbook_bases != bases:
            rep.error("dashboards/", f"runbook base URL {sorted(runbook_bases)} differs from the alerts' {sorted(bases)}")
    if not runbook_bases:
        rep.error("dashboards/", "no panel links to a runbook")
    if len(allowed) > MAX_ALLOWED_EMPTY:
        rep.error("dashboards/", f"{len(allowed)} panels marked '{EMPTY_MARKER}' (at most {MAX_ALLOWED_EMPTY}): keep the list short")
    return rep, allowed


def cmd_structure(args):
    root = args.root
    rep, allowed = check_structure(root)
    dashboards = load_dashboards(root)
    for name, d in dashboards:
        n = len(query_panels(d))
        t = sum(len(p.get("targets") or []) for p in query_panels(d))
        print(f"  {name}: uid {d.get('uid')}, schemaVersion {d.get('schemaVersion')}, {n} panels, {t} queries")
    if alert_rules(root) is None:
        print("  note: alerts/ is not in this tree yet: runbook links checked for form only")
    if not os.path.exists(os.path.join(root, "docs", "runbooks.md")):
        print("  note: docs/runbooks.md is not in this tree yet: runbook anchors not checked against it")
    print(f"  panels marked '{EMPTY_MARKER}':")
    for name, pid, title, reason in allowed:
        print(f"    {name} #{pid} {title!r}: {reason}")
    for e in rep.errors:
        print(f"FAIL {e}")
    print(f"structure: {'ok' if rep.ok() else f'{len(rep.errors)} problem(s)'}")
    return 0 if rep.ok() else 1


# --------------------------------------------------------------------------
# Self-test: every fault below must be caught
# --------------------------------------------------------------------------

def first_panel(d, kind=None):
    return next(p for p in query_panels(d) if kind is None or p["type"] == kind)


MUTATIONS = {
    "duplicate panel id": lambda d: query_panels(d)[1].__setitem__("id", query_panels(d)[0]["id"]),
    "hard-coded datasource uid": lambda d: first_panel(d).__setitem__("datasource", {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}),
    "target datasource hard-coded": lambda d: first_panel(d)["targets"][0].__setitem__("datasource", {"type": "prometheus", "uid": "abc"}),
    "missing unit": lambda d: first_panel(d)["fieldConfig"]["defaults"].pop("unit"),
    "unknown unit": lambda d: first_panel(d)["fieldConfig"]["defaults"].__setitem__("unit", "seconds"),
    "missing thresholds": lambda d: first_panel(d)["fieldConfig"]["defaults"].pop("thresholds"),
    "missing gridPos": lambda d: first_panel(d).pop("gridPos"),
    "overlapping panels": lambda d: query_panels(d)[1].__setitem__("gridPos", dict(query_panels(d)[0]["gridPos"])),
    "grid overflow": lambda d: first_panel(d)["gridPos"].__setitem__("x", 20),
    "old schemaVersion": lambda d: d.__setitem__("schemaVersion", 16),
    "no datasource variable": lambda d: d["templating"].__setitem__("list", [v for v in d["templating"]["list"] if v["name"] != "datasource"]),
    "environment not multi": lambda d: next(v for v in d["templating"]["list"] if v["name"] == "environment").__setitem__("multi", False),
    "environment from wrong label": lambda d: next(v for v in d["templating"]["list"] if v["name"] == "environment").update(query="label_values(anthropic_work_up, environment)", definition="label_values(anthropic_work_up, environment)"),
    "DS_ input": lambda d: first_panel(d).__setitem__("datasource", {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}),
    "typo in metric name": lambda d: first_panel(d)["targets"][0].__setitem__("expr", "sum(anthropic_work_queue_dept)"),
    "unrecorded recording rule": lambda d: first_panel(d)["targets"][0].__setitem__("expr", "sum(environment_id:anthropic_work_up:ratio_rate9m)"),
    "uid changed": lambda d: d.__setitem__("uid", "something-else"),
    "numeric id": lambda d: d.__setitem__("id", 7),
    "runbook anchor not lowercase": lambda d: first_panel(d).__setitem__("links", [{"title": "r", "url": "https://x/docs/runbooks.md#AnthropicWorkQueueLag"}]),
    "link to unknown dashboard": lambda d: first_panel(d).__setitem__("links", [{"title": "x", "url": "/d/awe-nope?var-environment=1"}]),
    "undefined variable": lambda d: first_panel(d)["targets"][0].__setitem__("expr", 'sum(anthropic_work_up{environment_id=~"$env"})'),
    "no alert annotation": lambda d: d["annotations"].__setitem__("list", [a for a in d["annotations"]["list"] if a.get("builtIn")]),
}


def cmd_selftest(args):
    root = args.root
    pristine = load_dashboards(root)
    rep, _ = check_structure(root, copy.deepcopy(pristine))
    if not rep.ok():
        print("selftest: the unmodified dashboards already fail `structure`")
        return 1
    missed = []
    for label, mutate in MUTATIONS.items():
        dashboards = copy.deepcopy(pristine)
        mutate(dashboards[0][1])
        rep, _ = check_structure(root, dashboards)
        status = "caught" if not rep.ok() else "MISSED"
        print(f"  {status:6} {label}" + (f": {rep.errors[0]}" if rep.errors else ""))
        if rep.ok():
            missed.append(label)
    print(f"selftest: {len(MUTATIONS) - len(missed)} of {len(MUTATIONS)} faults caught")
    return 1 if missed else 0


# --------------------------------------------------------------------------
# Live: every query against a real Prometheus
# --------------------------------------------------------------------------

class Prom:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        q = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{q}", timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            try:
                return json.load(e)
            except ValueError:
                return {"status": "error", "error": f"HTTP {e.code}"}

    def query(self, expr):
        return self.get("/api/v1/query", query=expr)


def has_data(body):
    """(samples, finite samples) of a successful query answer."""
    data = body.get("data") or {}
    rtype, result = data.get("resultType"), data.get("result")
    if rtype == "scalar":
        values = [result[1]]
    elif rtype == "vector":
        # A native histogram sample counts by its observation count.
        values = [s["value"][1] if "value" in s else s["histogram"][1]["count"] for s in result]
    elif rtype == "matrix":
        values = [v[1] for s in result for v in s["values"]]
    else:
        values = []
    finite = [v for v in values if not math.isnan(float(v))]
    return len(values), len(finite)


def substitute(expr, values):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in values:
            vals = values[name]
            return vals[0] if len(vals) == 1 else "(" + "|".join(vals) + ")"
        return m.group(0)
    return VAR_RE.sub(repl, expr)


def resolve_variables(prom, dash, expected_envs, rep, where):
    values = {}
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        q = substitute(q, values)
        m = re.fullmatch(r"label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)", q)
        if not m:
            rep.error(f"{where} variable {v['name']}", f"cannot evaluate {q!r} (only label_values(selector, label))")
            continue
        body = prom.get("/api/v1/series", **{"match[]": m.group(1), "start": str(time.time() - 300)})
        if body.get("status") != "success":
            rep.error(f"{where} variable {v['name']}", f"{q}: {body.get('error')}")
            continue
        got = sorted({s[m.group(2)] for s in body["data"] if m.group(2) in s})
        if not got:
            rep.error(f"{where} variable {v['name']}", f"{q} returned no values")
            continue
        for val in got:
            if not re.fullmatch(r"[\w.:-]+", val):
                rep.error(f"{where} variable {v['name']}", f"value {val!r} would need regex escaping")
        if v["name"] == "environment" and set(got) != set(expected_envs):
            rep.error(f"{where} variable environment", f"{q} gave {got}, the demo has {sorted(expected_envs)}")
        # Grafana escapes regex metacharacters of multi-values for Prometheus;
        # inside a PromQL string literal the backslash itself is doubled.
        values[v["name"]] = [re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", x) for x in got]
        print(f"  {where}: ${v['name']} = {got}")
    return values


def cmd_live(args):
    prom = Prom(args.prometheus)
    rep = Report()
    envs = [e for e in args.environments.split(",") if e]
    BUILTINS["__rate_interval"] = args.rate_interval
    deadline = time.monotonic() + args.deadline

    # Wait until the rate window is full of samples.
    window_s = int(re.fullmatch(r"(\d+)s", args.rate_interval).group(1))
    need = max(2, window_s // args.scrape_interval - 1)
    print(f"waiting for {need} samples in a {args.rate_interval} window ...")
    while True:
        body = prom.query(f"min(count_over_time(anthropic_work_exporter_build_info[{args.rate_interval}]))")
        n = has_data(body)[1] and float(body["data"]["result"][0]["value"][1])
        if n and n >= need:
            break
        if time.monotonic() > deadline:
            print(f"FAIL Prometheus never held {need} samples of the exporter (last answer {body})")
            return 1
        time.sleep(1)

    # Canaries: the checker must reject a query that does not parse and one without data.
    bad = prom.query("sum(anthropic_work_queue_depth")
    none = prom.query("anthropic_work_no_such_metric")
    if bad.get("status") != "error" or has_data(none)[1]:
        print("FAIL canaries: an unparsable or unknown query was not rejected; the live check would prove nothing")
        return 1

    checks = []  # (where, expr, allowed_empty_reason, kind)
    for name, dash in load_dashboards(args.root):
        values = resolve_variables(prom, dash, envs, rep, name)
        for p in query_panels(dash):
            reason = allowed_empty_reason(p)
            for t in p.get("targets") or []:
                where = f"{name} #{p['id']} {p['title']!r} [{t['refId']}]"
                checks.append((where, substitute(t["expr"], values), reason, "panel"))
        for a in dash.get("annotations", {}).get("list", []):
            if a.get("expr"):
                checks.append((f"{name} annotation {a['name']!r}", substitute(a["expr"], values),
                               "annotations show events (ALERTS exists only while an alert fires)", "annotation"))

    results = {}
    pending = list(range(len(checks)))
    attempt = 0
    while True:
        attempt += 1
        still = []
        for i in pending:
            where, expr, reason, _ = checks[i]
            if re.search(r"\$\w|\$\{|\[\[", expr):
                results[i] = ("unresolved", f"unsubstituted variable left in {expr!r}")
                continue
            body = prom.query(expr)
            if body.get("status") != "success":
                results[i] = ("error", f"{body.get('errorType')}: {body.get('error')}")
                continue
            n, finite = has_data(body)
            results[i] = ("data", f"{finite} sample(s)") if finite else ("empty", "no data" if not n else f"{n} NaN sample(s)")
            if not finite and reason is None:
                still.append(i)
        if not still or time.monotonic() > deadline:
            break
        print(f"  attempt {attempt}: {len(still)} query(ies) without data yet; retrying")
        pending = still
        time.sleep(5)

    allowed_listed = set()
    for i, (where, expr, reason, kind) in enumerate(checks):
        state, detail = results[i]
        if state in ("error", "unresolved"):
            rep.error(where, f"{detail}\n       query: {expr}")
            print(f"FAIL {where}: {detail}\n       query: {expr}")
        elif state == "empty" and reason is None:
            rep.error(where, f"returned no data ({detail})\n       query: {expr}")
            print(f"FAIL {where}: {detail}\n       query: {expr}")
        elif state == "empty":
            print(f"  ok   {where}: empty, allowed ({reason})")
            allowed_listed.add(where)
        else:
            note = " (marked may-be-empty)" if reason and kind == "panel" else ""
            print(f"  ok   {where}: {detail}{note}")
    n_panel = sum(1 for c in checks if c[3] == "panel")
    print(f"live: {n_panel} panel queries and {len(checks) - n_panel} annotation queries run, "
          f"{len(rep.errors)} failed")
    for e in rep.errors:
        if not any(e.startswith(c[0]) for c in checks):
            print(f"FAIL {e}")
    return 0 if rep.ok() else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["structure", "selftest", "live"])
    ap.add_argument("--root", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--prometheus", help="base URL of Prometheus (live)")
    ap.add_argument("--environments", default="", help="comma-separated environment ids of the demo (live)")
    ap.add_argument("--rate-interval", default="30s", help="what $__rate_interval becomes (live), in seconds: 30s")
    ap.add_argument("--scrape-interval", type=int, default=2, help="Prometheus' scrape interval in seconds (live)")
    ap.add_argument("--deadline", type=int, default=120, help="seconds to wait for data, in all (live)")
    args = ap.parse_args()
    if args.mode == "structure":
        return cmd_structure(args)
    if args.mode == "selftest":
        return cmd_selftest(args)
    if not args.prometheus or not args.environments:
        ap.error("live needs --prometheus and --environments")
    return cmd_live(args)


if __name__ == "__main__":
    sys.exit(main())
