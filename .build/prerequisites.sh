#!/usr/bin/env bash
# Installs what building and testing WbcPortal needs beyond the .NET 10 SDK, once, from Debian/Ubuntu packages:
#   gcc + patchelf  the TorchSharp fix for libstdc++ older than GLIBCXX_3.4.32 (see .build/TorchSharpDebian12.targets)
#   chromium        the browser tests (driven by Playwright; no browser download)
# and, where Node.js (20.19+) and npm are installed, the OpenAPI linter ApiContractTests runs (Redocly CLI, pinned in
# WbcPortal.Tests/OpenApiLint/package-lock.json) and the outside program OutsideProgramTests runs (onnxruntime-node,
# pngjs, openapi-typescript, openapi-fetch, typescript, pinned in WbcPortal.Tests/Outside/package-lock.json); without
# node those tests skip and say why.
# Usage: .build/prerequisites.sh [--browser]
set -euo pipefail

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v patchelf >/dev/null 2>&1 || need+=(patchelf)
if [[ "${1:-}" == "--browser" ]]; then
  [[ -x /usr/bin/chromium ]] || need+=(chromium)
  fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
fi

if ((${#need[@]})); then
  sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  echo "Installing: ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

command -v dotnet >/dev/null 2>&1 || { echo "The .NET 10 SDK is required: https://dot.net" >&2; exit 1; }

lint="$(cd "$(dirname "$0")/.." && pwd)/WbcPortal.Tests/OpenApiLint"
if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
  want=$(node -p "require('$lint/package.json').devDependencies['@redocly/cli']")
  have=$(node -p "try { require('$lint/node_modules/@redocly/cli/package.json').version } catch { '' }")
  if [[ "$want" != "$have" ]]; then
    echo "Installing the OpenAPI linter (@redocly/cli $want) in $lint" >&2
    (cd "$lint" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
  fi

  # The outside program: installed again only when its lock file changed since the last install (the stamp holds its hash).
  # --ignore-scripts: onnxruntime-node's install script would fetch CUDA libraries from outside the registry; its CPU
  # runtime ships inside the package.
  outside="$(cd "$(dirname "$0")/.." && pwd)/WbcPortal.Tests/Outside"
  lock=$(sha256sum "$outside/package-lock.json" | cut -d' ' -f1)
  if [[ "$(cat "$outside/node_modules/.wbc-lock-sha256" 2>/dev/null)" != "$lock" ]]; then
    echo "Installing the outside program's packages (onnxruntime-node, openapi-typescript, ...) in $outside" >&2
    (cd "$outside" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
    echo "$lock" > "$outside/node_modules/.wbc-lock-sha256"
  fi
else
  echo "node/npm not found: the OpenAPI lint test (ApiContractTests) and the outside program (OutsideProgramTests) will skip; install Node.js 20.19+ to run them." >&2
fi
