#!/usr/bin/env bash
# Set-up (idempotent), then every test in the solution; ends with one summary line
# "tests: N passed, N failed, N skipped" and dotnet test's verdict as the exit status.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
log="$(mktemp)"
set +e
dotnet test Research.sln -c Release --no-build -nologo 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
count() { grep -oE "$1:\s+[0-9]+" "$log" | awk '{s+=$2} END {print s+0}'; }
passed=$(count Passed); failed=$(count Failed); skipped=$(count Skipped)
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$failed" -eq 0 ]
