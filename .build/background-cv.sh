#!/usr/bin/env bash
# Recipe cross-validations in the background, at the lowest priority, resumable after any stop (issue 23's compute plan).
#
#   .build/background-cv.sh DATA_DIR SPLIT [RECIPE...]     (recipes: names of .build/recipes/*.json, or of RECIPES_DIR; FOLDS=5 by default)
#
# - Runs from a copy of the built binary (BIN_COPY, default ~/.wbc-cv-bin), so rebuilding the project does not pull the
#   binary from under a running cross-validation. Build first: dotnet build WbcPortal -c Release.
# - nice 19 and the session's autogroup nice 19 (with autogroup, plain nice only ranks a process within its own group, and
#   the kernel would share the CPU half and half with your shell's work).
# - Each recipe is one `train --folds 5` named cv-RECIPE; run the script again after any stop and it resumes the cross-validation
#   that was running (finished folds are kept, an interrupted fold goes on from its last epoch) and skips the finished ones.
# - Pause it for CI and timing runs with `kill -STOP PID`, go on with `kill -CONT PID`; stop it with SIGTERM (a background job
#   ignores SIGINT): its running fold is marked Interrupted and resumes next time.
set -uo pipefail
# Its own session, so the autogroup nice below is its own group's, never that of the shell that started it.
if [[ "${WBC_CV_DETACHED:-}" != 1 ]]; then WBC_CV_DETACHED=1 exec setsid --wait "$0" "$@"; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:?usage: background-cv.sh DATA_DIR SPLIT [RECIPE...]}"
split="${2:?usage: background-cv.sh DATA_DIR SPLIT [RECIPE...]}"
shift 2
recipes=("$@")
[[ ${#recipes[@]} -gt 0 ]] || recipes=(orig24 orig24-stain orig24-mixup default-everycopy orig8 orig8-long orig8-long-stain orig8-long-mixup orig8-unbalanced orig8-long-144)
bin_copy="${BIN_COPY:-$HOME/.wbc-cv-bin}"
built="$root/WbcPortal/bin/Release/net10.0/linux-x64"
[[ -x "$built/WbcPortal" ]] || { echo "Build first: dotnet build $root/WbcPortal -c Release" >&2; exit 2; }
rm -rf "$bin_copy.new" && cp -r "$built" "$bin_copy.new" && rm -rf "$bin_copy" && mv "$bin_copy.new" "$bin_copy"
echo 19 > /proc/self/autogroup 2>/dev/null || true
renice -n 19 $$ >/dev/null
log="$data/background-cv"
mkdir -p "$log"
for r in "${recipes[@]}"; do
  config="${RECIPES_DIR:-$root/.build/recipes}/$r.json"
  [[ -f "$config" ]] || { echo "no recipe $config" >&2; continue; }
  [[ -f "$log/done-$r.json" ]] && continue
  resume_err="$log/$r.resume.err"
  if nice -n 19 "$bin_copy/WbcPortal" resume "cv-$r" --json --data-dir "$data" > "$log/out-$r.json" 2> "$resume_err"; then
    mv "$log/out-$r.json" "$log/done-$r.json"; continue
  fi
  cat "$resume_err" >> "$log/$r.log"
  if grep -q "No run 'cv-$r'" "$resume_err"; then
    # Not started yet: start it.
    if nice -n 19 "$bin_copy/WbcPortal" train --split "$split" --config "$config" --folds "${FOLDS:-5}" --name "cv-$r" --json --data-dir "$data" > "$log/out-$r.json" 2>> "$log/$r.log"; then
      mv "$log/out-$r.json" "$log/done-$r.json"; continue
    fi
  fi
  # Stopped (SIGTERM) or failed: the queue ends here; run the script again to resume.
  echo "$(date -u +%FT%TZ) cv-$r stopped or failed: see $log/$r.log; run again to resume" >> "$log/failures.txt"
  exit 1
done
