#!/usr/bin/env bash
# Starts Tomcat on the exported ip and port, reading from the imported database of another application (when it already runs, it reads the
# new config at its next request).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tomcat.sh"
write_config
service_pid tomcat >/dev/null || start_service tomcat --config "$RUN_DIR/tomcat.conf"
