#!/usr/bin/env bash
# Removes this instance's Apache (stopping it first if it still runs) and its ServerRoot.
set -euo pipefail
bash "$(dirname "${BASH_SOURCE[0]}")/stop.sh"
. "$(dirname "${BASH_SOURCE[0]}")/apache.sh"
rm -rf "$RUN_DIR"
