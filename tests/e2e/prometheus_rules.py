#!/usr/bin/env python3
"""The alert rules and the Grafana dashboard against PromQL and the shipper.

  prometheus_rules.py dashboard-rules DASHBOARD OUT
      every PromQL expression of the dashboard (panel targets; Grafana's
      $__… variables replaced as Grafana would) as a recording rule in OUT,
      for `promtool check rules`; prints how many
  prometheus_rules.py names METRICS_FILE DASHBOARD RULES...
      the metric names the dashboard and the rules use against the families
      of a live /metrics: one NAME<TAB>EXPECTED<TAB>ACTUAL line per check,
      for tests/e2e/prometheus_rules.sh to count with lib.sh's check

Names outside the shipper's own (postgres_exporter's, Prometheus's `up`)
are allowed only in RULES and only from FOREIGN below, each with where it
comes from.  Needs PyYAML (Debian's python3-yaml).
"""
import json
import re
import sys

import yaml

# Metrics the rules read from elsewhere: a name, or a __name__ regex as
# written in the rules.
FOREIGN = {
    "up": "Prometheus, per scrape target",
    "pg_settings_max_slot_wal_keep_size_bytes": "postgres_exporter, settings collector",
    "pg_replication_slots?_safe_wal_size_bytes": "postgres_exporter 0.16+, replication_slot(s) collector",
    "pg_replication_slots?_wal_status": "postgres_exporter 0.16+, replication_slot(s) collector",
}

# Grafana's built-in interval variables, as Grafana fills them in.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "6h"}

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring",
            "group_left", "group_right", "offset", "bool", "inf", "nan",
            "atan2", "start", "end"}


def dashboard_targets(dashboard):
    """(panel title, expr) of every query of every panel, rows included."""
    found = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if "expr" in target:
                    found.append((panel.get("title", ""), target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    return found


def variable_queries(dashboard):
    """The metric of each label_values(METRIC, label) variable query."""
    metrics = []
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        m = re.match(r"label_values\((\w+),\s*\w+\)$", query or "")
        if m:
            metrics.append(m.group(1))
        elif var.get("type") == "query":
            metrics.append("unparsed variable query: %s" % query)
    return metrics


def substitute(expr):
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def metric_names(expr):
    """Metric names an expression reads: identifiers that are not a
    function, keyword, label name, duration or string."""
    names = set()
    for m in re.finditer(r'__name__\s*=~?\s*"([^"]*)"', expr):
        names.add(m.group(1))
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:\d+(?:ms|[smhdwy]))+\b", " ", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = m.group(0)
        rest = text[m.end():].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("("):
            continue
        names.add(word)
    return names


def rule_exprs(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    return [(r.get("alert") or r.get("record"), r["expr"])
            for g in doc["groups"] for r in g["rules"]]


def cmd_dashboard_rules(dashboard_path, out_path):
    with open(dashboard_path) as f:
        dashboard = json.load(f)
    targets = dashboard_targets(dashboard)
    rules = [{"record": "dashboard:expr_%d" % i, "expr": substitute(expr)}
             for i, (_, expr) in enumerate(targets, 1)]
    with open(out_path, "w") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, indent=1)
    print(len(rules))


def exported_families(exposition):
    return set(re.findall(r"^# TYPE (\S+) ", exposition, re.M))


def listing(names):
    return " ".join(sorted(names)) or "(none)"


def cmd_names(metrics_path, dashboard_path, rule_paths):
    with open(metrics_path) as f:
        exported = exported_families(f.read())
    with open(dashboard_path) as f:
        dashboard = json.load(f)
    used = set(variable_queries(dashboard))
    for _, expr in dashboard_targets(dashboard):
        used |= metric_names(substitute(expr))
    print("dashboard: metrics not in /metrics\t(none)\t%s" % listing(used - exported))
    print("dashboard: reads metrics\tyes\t%s" % ("yes" if used else "no"))
    for path in rule_paths:
        used = set()
        for _, expr in rule_exprs(path):
            used |= metric_names(expr)
        foreign = {n for n in used if n in FOREIGN}
        print("%s: metrics neither in /metrics nor listed as foreign\t(none)\t%s"
              % (path, listing(used - exported - foreign)))
        print("%s: shipper metrics read\tyes\t%s"
              % (path, "yes" if used & exported else "no"))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "dashboard-rules":
        cmd_dashboard_rules(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "names":
        cmd_names(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
