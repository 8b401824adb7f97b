#!/usr/bin/env bash
# Deploys Tomcat: its run folder (config, pid file, log).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
mkdir -p "$RUN_DIR"
