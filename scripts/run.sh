#!/usr/bin/env bash
# Set up (first time) and run Bridge. With no config yet, it starts the demo.
# Any arguments go to the `bridge` command: scripts/run.sh status, scripts/run.sh demo ...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
exec "$ROOT/.venv/bin/bridge" "$@"
