#!/usr/bin/env bash
# Starts the database on the exported ip and port.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
require ip port
service_pid db >/dev/null || start_service db --data "$RUN_DIR/db.json" --host "$ip" --port "$port"
