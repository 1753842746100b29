#!/usr/bin/env bash
# Set-up (idempotent), then every test in the solution.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
dotnet test Research.sln -c Release --no-build -nologo -v q --logger "console;verbosity=normal" 2>&1 | tee /tmp/research-test.log | grep -E "^\s*(Failed|Passed!|Failed!|Total tests|error)|\[FAIL\]|Error Message|Assert|Exception" || true
# dotnet test's exit status is the verdict; the summary line for CI is printed below.
set +e
passed=$(grep -oE "Passed:\s+[0-9]+" /tmp/research-test.log | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE "Failed:\s+[0-9]+" /tmp/research-test.log | awk '{s+=$2} END {print s+0}')
skipped=$(grep -oE "Skipped:\s+[0-9]+" /tmp/research-test.log | awk '{s+=$2} END {print s+0}')
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ] && ! grep -q "Test Run Aborted\|error MSB\|Failed!" /tmp/research-test.log
