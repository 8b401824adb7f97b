#!/usr/bin/env bash
# Stops the database; its data stays for the next start.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
stop_service db
