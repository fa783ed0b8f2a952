#!/usr/bin/env python3
"""The Helm chart against the plain manifests, object by object.

  helm_drift.py MANIFEST_DIR RENDERED CHART_VERSION [EXTRA_KIND...]

MANIFEST_DIR is deploy/kubernetes: the objects its kustomization.yaml lists,
with its images: override applied (what `kubectl kustomize` gives).
RENDERED is `helm template outbox-shipper CHART` output.  The chart adds
Helm's two labels to each object's metadata (helm.sh/chart, and
app.kubernetes.io/managed-by: Helm); they are checked, then removed, and
everything else must be equal: same kinds and names, same fields, same
values.  EXTRA_KIND: kinds only the chart renders (ServiceMonitor when
enabled), listed rather than compared.

Prints NAME<TAB>EXPECTED<TAB>ACTUAL lines for lib.sh's check.  Needs PyYAML.
"""
import os
import sys

import yaml

HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")


def plain_objects(directory):
    kustomization = yaml.safe_load(open(os.path.join(directory, "kustomization.yaml")))
    images = {i["name"]: "%s:%s" % (i.get("newName", i["name"]), i["newTag"])
              for i in kustomization.get("images", [])}
    objects = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all(open(os.path.join(directory, name))):
            if not doc:
                continue
            for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                image = c["image"].rsplit(":", 1)[0]
                c["image"] = images.get(image, c["image"])
            objects[(doc["kind"], doc["metadata"]["name"])] = (name, doc)
    return objects


def differences(want, have, path=""):
    """Paths at which two YAML values differ."""
    if isinstance(want, dict) and isinstance(have, dict):
        out = []
        for key in sorted(set(want) | set(have), key=str):
            sub = "%s.%s" % (path, key) if path else str(key)
            if key not in have:
                out.append(sub + " (missing)")
            elif key not in want:
                out.append(sub + " (extra)")
            else:
                out += differences(want[key], have[key], sub)
        return out
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        out = []
        for i, (w, h) in enumerate(zip(want, have)):
            out += differences(w, h, "%s[%d]" % (path, i))
        return out
    return [] if want == have and type(want) is type(have) else [path or "(document)"]


def main():
    directory, rendered, chart_version = sys.argv[1:4]
    extra_kinds = set(sys.argv[4:])
    rules = []

    def rule(name, expected, actual):
        rules.append((name, str(expected), str(actual)))

    plain = plain_objects(directory)
    chart = {}
    helm_labels = set()
    for doc in yaml.safe_load_all(open(rendered)):
        if not doc:
            continue
        labels = doc["metadata"].get("labels", {})
        helm_labels.add(tuple(labels.pop(k, None) for k in HELM_LABELS))
        chart[(doc["kind"], doc["metadata"]["name"])] = doc
    rule("every chart object has Helm's labels, and only those differ",
         "{('outbox-shipper-%s', 'Helm')}" % chart_version, helm_labels)

    listed = sorted("%s/%s" % k for k in chart if k[0] in extra_kinds)
    rule("objects only the chart renders", " ".join(sorted("%s/%s" % (k, "outbox-shipper") for k in extra_kinds)),
         " ".join(listed))
    rule("the chart renders the plain manifests' objects",
         " ".join(sorted("%s/%s" % k for k in plain)),
         " ".join(sorted("%s/%s" % k for k in chart if k[0] not in extra_kinds)))
    for key in sorted(plain):
        name, doc = plain[key]
        if key in chart:
            rule("%s/%s: the chart's equals deploy/kubernetes/%s" % (key[0], key[1], name), "",
                 " ".join(differences(doc, chart[key])[:8]))

    for name, expected, actual in rules:
        print("%s\t%s\t%s" % (name, expected, actual))


if __name__ == "__main__":
    main()
