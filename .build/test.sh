#!/usr/bin/env bash
# The whole test suite: engine, components (bUnit), the real portal host, and Chromium browser tests.
# Tests that need the real images in ../shared/data skip with a message when they are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
.build/prerequisites.sh --browser
dotnet build WbcPortal.sln -c Release -nologo -clp:ErrorsOnly

# PostgreSQL for the scale-out tests (issue 27): Debian's (installed from apt when missing), its own data folder, a free
# port, stopped and deleted when the tests end.
if pg_env="$(.build/postgres.sh start)"; then
  eval "$pg_env"
  trap '.build/postgres.sh stop "$WBC_TEST_POSTGRES_DIR"' EXIT
else
  echo "PostgreSQL could not be started: the tests that need it skip and say so (CI fails them)"
fi

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
  if [[ "$failed" != "0" ]]; then
    # The console log is long and CI shows only its tail: repeat each failure here, with its message.
    echo "Failed tests:"
    python3 - "$trx" <<'PY' || grep -o 'testName="[^"]*" [^>]*outcome="Failed"' "$trx" || true
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for r in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns):
    if r.get("outcome") != "Failed":
        continue
    print("  FAILED", r.get("testName"), r.get("duration"))
    msg = r.find(".//t:ErrorInfo/t:Message", ns)
    trace = r.find(".//t:ErrorInfo/t:StackTrace", ns)
    for line in ((msg.text if msg is not None else "") or "").splitlines()[:15]:
        print("    " + line)
    for line in ((trace.text if trace is not None else "") or "").splitlines()[:6]:
        print("    " + line)
PY
  fi
  echo "$passed passed, $failed failed, $((total - executed)) skipped"
fi
exit $status
