#!/usr/bin/env bash
# Removes the database and its data (stopping it first if it still runs).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
stop_service db
rm -rf "$RUN_DIR"
