#!/usr/bin/env bash
# Stops Apache.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
stop_service apache
