#!/usr/bin/env bash
# The imported database changed: rewrite the config; the running Tomcat reads it at its next request (no restart).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
. "$(dirname "${BASH_SOURCE[0]}")/tomcat.sh"
write_config
