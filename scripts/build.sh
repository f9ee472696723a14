#!/usr/bin/env bash
# Configures and builds preflight (release preset) after installing what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
preset="${PREFLIGHT_PRESET:-release}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
