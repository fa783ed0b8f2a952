#!/usr/bin/env bash
# deploy/kubernetes against the Kubernetes API schemas, strictly (an unknown
# field is an error), with kubernetes-validate from PyPI (the schemas ship
# in the package: nothing is fetched at validation time), and the rules a
# schema cannot express (tests/e2e/manifest_rules.py).
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
finish
