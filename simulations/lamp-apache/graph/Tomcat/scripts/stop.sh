#!/usr/bin/env bash
# Stops this instance's Tomcat: SIGTERM (the JVM's shutdown hook stops Tomcat cleanly), SIGKILL after a while.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tomcat.sh"
if pid=$(tomcat_pid); then
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((STOP_TIMEOUT_S * 10))); do
    running "$pid" || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
fi
rm -f "$PID_FILE"
