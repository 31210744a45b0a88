#!/usr/bin/env bash
# Creates .venv and installs Bridge with its demo and its dev tools. Idempotent: reinstalls
# only when pyproject.toml changed. Sourced by scripts/run.sh and scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

pick_python() {
  # PySide6 is pinned per Python version in pyproject.toml; any CPython >= 3.11 works.
  for py in "${BRIDGE_PYTHON:-}" python3.11 python3 python; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "Bridge needs Python 3.11 or newer (set BRIDGE_PYTHON)." >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  PY="$(pick_python)"
  echo "Creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "Installing Bridge and its dependencies into .venv ..."
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  # demo: scripts/run.sh with no ERP configured starts the demo (the simulators, on aiohttp);
  # dev: scripts/test.sh (pytest...) and the bundle's build (PyInstaller)
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[demo,dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
