#!/usr/bin/env bash
# The main job on the bundled defaults: builds, then plans the example scenario.
# Extra arguments replace the default ones: scripts/run.sh search examples/x.yaml --json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >&2
if (($#)); then
  exec build/release/bin/preflight "$@"
fi
exec build/release/bin/preflight plan examples/llama3.1-70b-h100.yaml
