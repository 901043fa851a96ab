#!/usr/bin/env bash
# The whole test suite: engine, components (bUnit), the real portal host, and Chromium browser tests.
# Tests that need the real images in ../shared/data skip with a message when they are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
.build/prerequisites.sh --browser
dotnet build WbcPortal.sln -c Release -nologo -clp:ErrorsOnly

results="WbcPortal.Tests/TestResults"
rm -f "$results/results.trx"
status=0
dotnet test WbcPortal.sln -c Release --no-build -nologo \
  --logger "console;verbosity=normal" --logger "trx;LogFileName=results.trx" --results-directory "$results" || status=$?

trx="$results/results.trx"
if [[ -f "$trx" ]]; then
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  total=$(get total); executed=$(get executed); passed=$(get passed); failed=$(get failed)
  echo "$passed passed, $failed failed, $((total - executed)) skipped"
fi
exit $status
