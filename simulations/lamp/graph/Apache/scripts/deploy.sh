#!/usr/bin/env bash
# Deploys Apache: its run folder (config, pid file, log).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
mkdir -p "$RUN_DIR"
