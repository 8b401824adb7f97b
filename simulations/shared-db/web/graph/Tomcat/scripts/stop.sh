#!/usr/bin/env bash
# Stops Tomcat.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
stop_service tomcat
