#!/usr/bin/env bash
# The MySQL import changed: rewrite the config and have the running Tomcat re-read it (no restart).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
. "$(dirname "${BASH_SOURCE[0]}")/config.sh"
write_config
if pid=$(service_pid tomcat); then kill -HUP "$pid"; fi
