#!/usr/bin/env bash
# Set-up (idempotent), then the three Expecto test programs; ends with one summary line
# "tests: N passed, N failed, N skipped" over all three, and fails if any test failed.
# Arguments go to every program, e.g. `bash scripts/test.sh --filter-test-list FlowTests`
# (see the README, "Tests").
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
log="$(mktemp)"
status=0
plain=()
[ -t 1 ] || plain=(--colours 0)   # no colour codes in logs
for project in Core Analysis Experiments; do
  echo "== $project.Tests"
  dotnet "tests/$project.Tests/bin/Release/net10.0/$project.Tests.dll" --no-spinner "${plain[@]}" "$@" 2>&1 | tee -a "$log" || status=1
done
total() { grep -oE "tests: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped" "$log" | grep -oE "[0-9]+ $1" | awk '{s+=$1} END {print s+0}'; }
passed=$(total passed); failed=$(total failed); skipped=$(total skipped)
rm -f "$log"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$failed" -eq 0 ]
