#!/usr/bin/env bash
# Stops this instance's Apache: SIGTERM to the parent (it stops its workers), SIGKILL after a while.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/apache.sh"
if pid=$(apache_pid); then
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((STOP_TIMEOUT_S * 10))); do
    running "$pid" || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
fi
rm -f "$PID_FILE"
