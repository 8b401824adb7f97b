#!/usr/bin/env bash
# A Tomcat came or went: rewrite the member list and signal the running proxy, which re-reads it without
# restarting (mod_proxy's graceful reload).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/service.sh"
. "$(dirname "${BASH_SOURCE[0]}")/apache.sh"
write_config
if pid=$(service_pid apache); then reload_apache "$pid"; fi
