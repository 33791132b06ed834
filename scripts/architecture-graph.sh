#!/usr/bin/env bash
# Rewrites the Mermaid picture in docs/architecture.md from the .csproj files (projects, project references and
# packages). The same generator checks the picture in ./test.sh (tests/Architecture.Tests), so a stale one fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BIVM_WRITE_ARCHITECTURE=1 dotnet test tests/Architecture.Tests -c Release --nologo \
  --filter "FullyQualifiedName~DiagramTests" >/dev/null
echo "wrote docs/architecture.md"
