#!/usr/bin/env bash
# Removes Tomcat (stopping it first if it still runs).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
stop_service tomcat
rm -rf "$RUN_DIR"
