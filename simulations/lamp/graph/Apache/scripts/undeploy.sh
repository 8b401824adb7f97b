#!/usr/bin/env bash
# Removes Apache (stopping it first if it still runs).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
stop_service apache
rm -rf "$RUN_DIR"
