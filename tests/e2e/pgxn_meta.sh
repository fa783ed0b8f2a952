#!/usr/bin/env bash
# META.json, the distribution's metadata for PGXN (Meta Spec 1.0.0), against
# the spec's required keys and the sources it describes (the control file's
# default_version, the extension script, the shipper's version), so that
# they cannot drift (tests/e2e/pgxn_meta.py).  No servers; well under 1 s.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

rules=$(python3 "$E2E_ROOT/tests/e2e/pgxn_meta.py" "$E2E_ROOT" \
	"$("$SHIPPER" --version | awk '{ print $2 }')" 2>&1)
status=$?
check "pgxn_meta.py runs" 0 "$status"
[ $status -eq 0 ] || echo "$rules" | sed 's/^/# /'
while IFS=$'\t' read -r name expected actual; do
	check "$name" "$expected" "$actual"
done < <([ $status -eq 0 ] && echo "$rules")
finish
