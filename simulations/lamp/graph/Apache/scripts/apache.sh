# Apache's configuration, sourced by start.sh and update.sh after service.sh.

RELOAD_TIMEOUT_S=10 # how long reload_apache waits for the proxy to re-read its config, in seconds

# write_config: run/apache.conf from Roboconf's environment: the instance's ip and port, and one balancer member
# per imported Tomcat (Tomcat_size, Tomcat_<i>_ip, Tomcat_<i>_port)
write_config() {
  local c member_ip member_port
  require ip port
  mkdir -p "$RUN_DIR"
  {
    echo "# written by the Apache recipe of $ROBOCONF_INSTANCE_PATH"
    echo "host = $ip"
    echo "port = $port"
    for ((c = 0; c < ${Tomcat_size:-0}; c++)); do
      require "Tomcat_${c}_ip" "Tomcat_${c}_port"
      member_ip="Tomcat_${c}_ip" member_port="Tomcat_${c}_port"
      echo "member = http://${!member_ip}:${!member_port}"
    done
  } >"$RUN_DIR/apache.conf.new"
  # rename: the proxy never reads a half-written file
  mv "$RUN_DIR/apache.conf.new" "$RUN_DIR/apache.conf"
}

# reloads: how many times the running proxy re-read its config (its /server-status)
reloads() {
  node -e 'fetch(process.argv[1]).then(r => r.json()).then(s => console.log(s.reloads), () => {})' \
    "http://$ip:$port/server-status"
}

# reload_apache <pid>: SIGHUP, then waits until the proxy has re-read its config (no restart: mod_proxy's graceful
# reload), so that the next request already goes to the new members
reload_apache() {
  local before
  before=$(reloads)
  kill -HUP "$1"
  for _ in $(seq 1 $((RELOAD_TIMEOUT_S * 10))); do
    [ "$(reloads)" != "$before" ] && return 0
    sleep 0.1
  done
  echo "$ROBOCONF_INSTANCE_PATH: apache did not re-read $RUN_DIR/apache.conf; last lines of $RUN_DIR/apache.log:" >&2
  tail -n 5 "$RUN_DIR/apache.log" >&2
  return 1
}
