#!/usr/bin/env bash
# The MySQL import changed: rewrite the settings; the servlet reads them at its next request (no restart).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tomcat.sh"
write_config
