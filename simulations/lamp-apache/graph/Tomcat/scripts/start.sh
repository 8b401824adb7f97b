#!/usr/bin/env bash
# Starts this instance's Tomcat on the exported ip and port, reading from the imported MySQL (when it already
# runs, the new settings apply at the next request).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tomcat.sh"
write_config
tomcat_pid >/dev/null && exit 0
refuse_port_in_use
rm -f "$PID_FILE"
# its own session: Tomcat outlives the agent's script run
CATALINA_HOME="$TOMCAT_HOME" CATALINA_BASE="$BASE" CATALINA_PID="$PID_FILE" CATALINA_OUT="$RUN_DIR/catalina.out" \
  CATALINA_TMPDIR="$BASE/temp" CATALINA_OPTS="-Xmx128m -XX:TieredStopAtLevel=1" \
  setsid "$TOMCAT_HOME/bin/catalina.sh" start >>"$RUN_DIR/tomcat.log" 2>&1 </dev/null
# the connector opens once the web application is deployed
for _ in $(seq 1 $((START_TIMEOUT_S * 5))); do
  if listening "$ip" "$port"; then exit 0; fi
  pid=$(cat "$PID_FILE" 2>/dev/null) && running "$pid" || break
  sleep 0.2
done
echo "$ROBOCONF_INSTANCE_PATH: Tomcat did not start listening on $ip:$port; last lines of $RUN_DIR/catalina.out:" >&2
tail -n 30 "$RUN_DIR/catalina.out" >&2
exit 1
