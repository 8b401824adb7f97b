#!/usr/bin/env bash
# Deploys the database: its data file, holding the value every Tomcat serves (kept when already there).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
mkdir -p "$RUN_DIR"
[ -s "$RUN_DIR/db.json" ] || printf '{ "message": "Hello from %s" }\n' "$ROBOCONF_INSTANCE_PATH" >"$RUN_DIR/db.json"
