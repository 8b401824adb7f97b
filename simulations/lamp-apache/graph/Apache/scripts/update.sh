#!/usr/bin/env bash
# A Tomcat came or went: rewrite the balancer members and reload gracefully (mod_proxy's graceful reload: the
# parent process stays, no request is refused).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/apache.sh"
write_config
if apache_pid >/dev/null; then graceful_reload; fi
