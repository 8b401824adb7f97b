#!/usr/bin/env bash
# Removes this instance's Tomcat (stopping it first if it still runs) and its CATALINA_BASE.
set -euo pipefail
bash "$(dirname "${BASH_SOURCE[0]}")/stop.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tomcat.sh"
rm -rf "$RUN_DIR"
