#!/usr/bin/env bash
# Builds and runs every test (unit, scenario, CLI). PREFLIGHT_PRESET=debug-asan for sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
preset="${PREFLIGHT_PRESET:-release}"
ctest --preset "$preset" -j "$(nproc)"
