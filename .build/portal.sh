#!/usr/bin/env bash
# Builds and starts the portal on the embedded default (SQLite in ./data, no external service) and prints its URL.
# Extra arguments go to the portal, e.g. --urls http://0.0.0.0:5080 or --data-dir /srv/wbc.
set -euo pipefail
cd "$(dirname "$0")/.."
.build/prerequisites.sh
dotnet build WbcPortal/WbcPortal.csproj -c Release -nologo -clp:ErrorsOnly
exec dotnet run --project WbcPortal -c Release --no-build -- "$@"
