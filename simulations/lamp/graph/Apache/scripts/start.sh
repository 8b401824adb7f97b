#!/usr/bin/env bash
# Starts Apache on the exported ip and port, balancing over the imported Tomcats (reloads if it runs).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
. "$(dirname "${BASH_SOURCE[0]}")/apache.sh"
write_config
if pid=$(service_pid apache); then
  reload_apache "$pid"
else
  start_service apache --config "$RUN_DIR/apache.conf"
fi
