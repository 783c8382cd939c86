#!/usr/bin/env bash
# Runs one Go fuzz target for a time budget: deploy/fuzz.sh MODULE PACKAGE TARGET FUZZTIME.
#
# Go 1.26's fuzzing coordinator can fail a target with a bare "context
# deadline exceeded" exactly when -fuzztime ends (go.dev/issue/75804, fixed
# in Go 1.27): no input failed. That case is told apart from a real finding
# (a failing input is always written to testdata/fuzz) and, after the seed
# corpus and any committed inputs replay cleanly, tolerated. Everything else
# fails.
set -uo pipefail
mod=$1 pkg=$2 name=$3 budget=$4
log=$(mktemp)
trap 'rm -f "$log"' EXIT
(cd "$mod" && go test -run='^$' -fuzz="^${name}\$" -fuzztime="$budget" "./$pkg/") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -eq 0 ]; then
	exit 0
fi
if grep -q "context deadline exceeded" "$log" && ! grep -qE "Failing input written|panic:" "$log"; then
	echo "fuzz: $name stopped with the Go 1.26 -fuzztime race (go.dev/issue/75804), no failing input; replaying the corpus"
	(cd "$mod" && go test -run="^${name}\$" "./$pkg/") || exit 1
	exit 0
fi
exit "$status"
