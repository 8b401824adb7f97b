#!/usr/bin/env bash
# Starts this instance's Apache on the exported ip and port, balancing over the imported Tomcats (a graceful
# reload when it already runs).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/apache.sh"
write_config
if apache_pid >/dev/null; then
  graceful_reload
  exit 0
fi
refuse_port_in_use
rm -f "$PID_FILE"
httpd -k start
for _ in $(seq 1 $((START_TIMEOUT_S * 10))); do
  [ -n "$(config_generation)" ] && exit 0
  sleep 0.1
done
echo "$ROBOCONF_INSTANCE_PATH: Apache did not start answering on $ip:$port; last lines of $RUN_DIR/error.log:" >&2
tail -n 20 "$RUN_DIR/error.log" >&2
exit 1
