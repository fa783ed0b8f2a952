#!/usr/bin/env bash
# deploy/kubernetes against the Kubernetes API schemas, strictly (an unknown
# field is an error), with kubernetes-validate from PyPI (the schemas ship
# in the package: nothing is fetched at validation time), and the rules a
# schema cannot express (tests/e2e/manifest_rules.py); then the Helm chart
# deploy/helm/outbox-shipper: helm lint, its output validated the same way
# and compared object by object with the manifests (helm_drift.py).
# Runtime on this 2-core machine: 13 s once Helm is built (scripts/helm.sh:
# about 6 min the first time, then cached).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

MANIFESTS=$E2E_ROOT/deploy/kubernetes
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/outbox_pg/venv-kv
# The validator and what it runs on, pinned (pip freeze of the venv).
PINS=(kubernetes-validate==1.37.0 PyYAML==6.0.3 jsonschema==4.26.0
	jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
	attrs==26.1.0 importlib_resources==7.1.0 packaging==26.3 typing_extensions==4.16.0)
# The oldest Kubernetes the manifests are for (unhealthyPodEvictionPolicy is
# on by default since 1.27, GA in 1.31) and the newest the validator knows.
K8S_VERSIONS=(1.30.0 1.37.0)

WORK=$(mktemp -d /tmp/outbox_manifests.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

installed_pins() { "$VENV/bin/pip" freeze 2>/dev/null | sort; }
wanted_pins() { printf '%s\n' "${PINS[@]}" | sort; }
if [ "$(installed_pins)" != "$(wanted_pins)" ]; then
	echo "# installing ${PINS[0]} into $VENV"
	rm -rf "$VENV"
	{ python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --no-deps "${PINS[@]}"; } >"$WORK/venv.log" 2>&1 ||
		sed 's/^/# /' "$WORK/venv.log" | tail -n 20
fi
check "kubernetes-validate and its dependencies at the pinned versions" \
	"$(wanted_pins | paste -sd' ')" "$(installed_pins | paste -sd' ')"
VALIDATE=$VENV/bin/kubernetes-validate

# validate FILE VERSION: prints the validator's verdict, returns its status.
validate() { "$VALIDATE" --strict --kubernetes-version "$2" "$1" 2>&1; }

for version in "${K8S_VERSIONS[@]}"; do
	for file in "$MANIFESTS"/*.yaml; do
		name=$(basename "$file")
		[ "$name" = kustomization.yaml ] && continue	# kustomize's, not the API's
		out=$(validate "$file" "$version")
		status=$?
		[ $status -eq 0 ] || echo "$out" | sed 's/^/# /'
		check "$name: valid against Kubernetes ${version%.0} (strict)" \
			"0 passed" "$status $(echo "$out" | grep -c "passed for resource" | sed 's/^1$/passed/')"
	done
done

# The validator is strict and really runs: one misspelled field fails.
sed 's/readinessProbe:/readinesProbe:/' "$MANIFESTS/deployment.yaml" >"$WORK/deployment-typo.yaml"
check "the typo is in the copy" 1 "$(grep -c 'readinesProbe:' "$WORK/deployment-typo.yaml")"
out=$(validate "$WORK/deployment-typo.yaml" "${K8S_VERSIONS[0]}")
status=$?
check "a misspelled field (readinesProbe) is rejected" \
	"1 1" "$status $(echo "$out" | grep -c "'readinesProbe' was unexpected")"
sed 's/^  replicas: 2$/  replicas: two/' "$MANIFESTS/deployment.yaml" >"$WORK/deployment-type.yaml"
out=$(validate "$WORK/deployment-type.yaml" "${K8S_VERSIONS[0]}")
check "a wrongly typed value (replicas: two) is rejected" 1 $?

# Rules no schema expresses.
"$VENV/bin/python" "$E2E_ROOT/tests/e2e/manifest_rules.py" "$MANIFESTS" \
	"$("$SHIPPER" --version | awk '{ print $2 }')" >"$WORK/rules.tsv" 2>"$WORK/rules.err"
check "manifest_rules.py runs" "0 " "$? $(cat "$WORK/rules.err")"
while IFS=$'\t' read -r name expected actual; do
	check "$name" "$expected" "$actual"
done <"$WORK/rules.tsv"

# The Helm chart: lint, the rendered objects against the same schemas, and
# against deploy/kubernetes object by object (helm_drift.py), so the two
# cannot drift.  Helm is pinned and built once (scripts/helm.sh).
CHART=$E2E_ROOT/deploy/helm/outbox-shipper
HELM=$("$E2E_ROOT/scripts/helm.sh" 2>"$WORK/helm-install.log")
check "scripts/helm.sh installs helm v3.22.0" "0 v3.22.0" \
	"$? $("$HELM" version --template '{{.Version}}' 2>&1)"
CHART_VERSION=$(awk '$1 == "version:" { print $2 }' "$CHART/Chart.yaml")
check "chart version = the shipper's version" \
	"$("$SHIPPER" --version | awk '{ print $2 }')" "$CHART_VERSION"

# render NAME [helm template args...]: writes $WORK/NAME.yaml, prints
# helm's status and stderr.
render() {
	local name=$1
	shift
	"$HELM" template outbox-shipper "$CHART" "$@" >"$WORK/$name.yaml" 2>"$WORK/$name.err"
	echo "$? $(head -n 1 "$WORK/$name.err")"
}
# kinds FILE: the rendered documents' kinds, one line
kinds() { "$VENV/bin/python" -c 'import sys, yaml; print(" ".join(sorted(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d)))' "$1"; }
# drift FILE [EXTRA_KIND...]: helm_drift.py's rules, each a check
drift() {
	local file=$1 name expected actual
	shift
	"$VENV/bin/python" "$E2E_ROOT/tests/e2e/helm_drift.py" "$MANIFESTS" "$file" "$CHART_VERSION" "$@" \
		>"$WORK/drift.tsv" 2>"$WORK/drift.err"
	check "helm_drift.py runs ($(basename "$file"))" "0 " "$? $(cat "$WORK/drift.err")"
	while IFS=$'\t' read -r name expected actual; do
		check "$(basename "$file" .yaml): $name" "$expected" "$actual"
	done <"$WORK/drift.tsv"
}

for values in "" "--set metrics.serviceMonitor.enabled=true"; do
	# shellcheck disable=SC2086 # values: flags, split on purpose
	out=$("$HELM" lint --strict "$CHART" $values 2>&1)
	status=$?
	[ $status -eq 0 ] || echo "$out" | sed 's/^/# /'
	check "helm lint --strict ${values:-(default values)}" \
		"0 1 chart(s) linted, 0 chart(s) failed" "$status $(echo "$out" | tail -n 1)"
done

check "helm template, default values" "0 " "$(render default)"
check "default values: the plain manifests' kinds" "ConfigMap Deployment PodDisruptionBudget Service" \
	"$(kinds "$WORK/default.yaml")"
check "helm template, ServiceMonitor on" "0 " "$(render monitor --set metrics.serviceMonitor.enabled=true)"
check "ServiceMonitor on: one more object" \
	"ConfigMap Deployment PodDisruptionBudget Service ServiceMonitor" "$(kinds "$WORK/monitor.yaml")"
for version in "${K8S_VERSIONS[@]}"; do
	for name in default monitor; do
		# kubernetes-validate has no schema for a CRD's kind: the
		# ServiceMonitor is checked by its rules below instead.
		"$VENV/bin/python" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] != "ServiceMonitor"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))' "$WORK/$name.yaml" "$WORK/$name-core.yaml"
		out=$(validate "$WORK/$name-core.yaml" "$version")
		status=$?
		[ $status -eq 0 ] || echo "$out" | sed 's/^/# /'
		check "helm template ($name) | kubernetes-validate --strict, Kubernetes ${version%.0}" \
			"0 4" "$status $(echo "$out" | grep -c "passed for resource")"
	done
done
drift "$WORK/default.yaml"
drift "$WORK/monitor.yaml" ServiceMonitor
check "ServiceMonitor: selects the metrics Service's pods on port http-metrics, /metrics" \
	"app.kubernetes.io/instance=outbox-shipper,app.kubernetes.io/name=outbox-shipper http-metrics /metrics 30s True" \
	"$("$VENV/bin/python" -c '
import sys, yaml
docs = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
m, s = docs["ServiceMonitor"], docs["Service"]
sel = m["spec"]["selector"]["matchLabels"]
(e,) = m["spec"]["endpoints"]
print(",".join("%s=%s" % kv for kv in sorted(sel.items())), e["port"], e["path"], e["interval"],
      all(s["metadata"]["labels"].get(k) == v for k, v in sel.items())
      and e["port"] in [p["name"] for p in s["spec"]["ports"]])' "$WORK/monitor.yaml")"

# The comparison finds a difference: one value changed.
render replicas3 --set replicaCount=3 >/dev/null
"$VENV/bin/python" "$E2E_ROOT/tests/e2e/helm_drift.py" "$MANIFESTS" "$WORK/replicas3.yaml" "$CHART_VERSION" >"$WORK/drift3.tsv"
check "drift check: replicaCount=3 differs from deployment.yaml at spec.replicas" \
	"Deployment/outbox-shipper: the chart's equals deploy/kubernetes/deployment.yaml	spec.replicas" \
	"$(awk -F'\t' '$2 != $3 { print $1 "\t" $3 }' "$WORK/drift3.tsv")"
# Values the plain manifests only show in comments.
check "a grace period too short for the drain is refused" \
	"1 Error: execution error at (outbox-shipper/templates/deployment.yaml:1:4): terminationGracePeriodSeconds (35) must exceed drainTimeout (30) by at least 10 s" \
	"$(render grace --set terminationGracePeriodSeconds=35)"
render nosasl --set kafka.saslFromSecret=false --set 'kafka.properties.security\.protocol=SSL' \
	--set 'kafka.properties.sasl\.mechanism=null' >/dev/null
check "Kafka without SASL: no SASL files, security.protocol SSL only" \
	"PGPASSWORD | OUTBOX_KAFKA_SECURITY_PROTOCOL=SSL" \
	"$("$VENV/bin/python" -c '
import sys, yaml
docs = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
(c,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
print(" ".join(e["name"] for e in c["env"]), "|",
      " ".join("%s=%s" % kv for kv in sorted(docs["ConfigMap"]["data"].items()) if kv[0].startswith("OUTBOX_KAFKA_")))' "$WORK/nosasl.yaml")"
"$HELM" template shipper-b "$CHART" --set podDisruptionBudget.minAvailable=1 >"$WORK/other.yaml" 2>&1
check "another release: its own names and instance label; PDB minAvailable 1" \
	"ConfigMap/shipper-b-outbox-shipper Deployment/shipper-b-outbox-shipper PodDisruptionBudget/shipper-b-outbox-shipper Service/shipper-b-outbox-shipper-metrics shipper-b {'minAvailable': 1, 'unhealthyPodEvictionPolicy': 'AlwaysAllow', 'selector': {'matchLabels': {'app.kubernetes.io/name': 'outbox-shipper', 'app.kubernetes.io/instance': 'shipper-b'}}}" \
	"$("$VENV/bin/python" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {d["kind"]: d for d in docs}
print(" ".join(sorted("%s/%s" % (d["kind"], d["metadata"]["name"]) for d in docs)),
      by["Deployment"]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"], by["PodDisruptionBudget"]["spec"])' "$WORK/other.yaml")"
finish
