#!/usr/bin/env bash
# Starts Tomcat on the exported ip and port, reading from the imported MySQL (re-reads its config if it runs).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
. "$(dirname "${BASH_SOURCE[0]}")/config.sh"
write_config
if pid=$(service_pid tomcat); then
  kill -HUP "$pid"
else
  start_service tomcat --config "$RUN_DIR/tomcat.conf"
fi
