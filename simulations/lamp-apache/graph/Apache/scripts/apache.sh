# Helpers of the Apache recipes, sourced by the action scripts (Roboconf's script environment). Each instance
# runs Debian's apache2 binary with its own ServerRoot and httpd.conf in "run/" next to the instance's files, so
# the system apache2 service and /etc/apache2 are never used.

: "${ROBOCONF_FILES_DIR:?is not set: run the recipe through the script plug-in, or set it to <instance folder>/files}"
: "${ROBOCONF_INSTANCE_PATH:?is not set: run the recipe through the script plug-in}"
RUN_DIR="$(dirname "$ROBOCONF_FILES_DIR")/run"
CONF="$RUN_DIR/httpd.conf"
PID_FILE="$RUN_DIR/httpd.pid"
APACHE_BIN=$(command -v apache2 || echo /usr/sbin/apache2)
MODULES_DIR=/usr/lib/apache2/modules
MODULES="mpm_event authz_core status proxy proxy_http proxy_balancer slotmem_shm lbmethod_byrequests"
START_TIMEOUT_S=30 # how long start.sh waits for Apache to listen, in seconds
RELOAD_TIMEOUT_S=30 # how long graceful_reload waits for the new configuration generation, in seconds
STOP_TIMEOUT_S=30  # how long stop.sh waits after SIGTERM before SIGKILL, in seconds

# require <variable>...: fails, naming the Roboconf variable, when one is empty
require() {
  local variable
  for variable; do
    if [ -z "${!variable:-}" ]; then
      echo "$ROBOCONF_INSTANCE_PATH: \$$variable is empty; the agent sets it from the instance's exports and" \
        "imports (a random[port] export needs a DM that assigns it, or a value in the instances file)" >&2
      exit 1
    fi
  done
}

# httpd <argument>...: this instance's Apache (its ServerRoot and config)
httpd() {
  "$APACHE_BIN" -d "$RUN_DIR" -f "$CONF" "$@"
}

# running <pid>: true while the process exists and has not exited (a zombie waiting for its reaper counts as gone)
running() {
  [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# apache_pid: prints the pid of this instance's Apache parent process; fails when it does not run
apache_pid() {
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) && [ -n "$pid" ] && running "$pid" &&
    grep -qa "$CONF" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

# refuse_port_in_use: fails when another process already holds the exported port (another application on the
# host, an Apache left over): start.sh would take that server's answers for this Apache's
refuse_port_in_use() {
  if (exec 3<>"/dev/tcp/$ip/$port") 2>/dev/null; then
    echo "$ROBOCONF_INSTANCE_PATH: $ip:$port is already in use by another process; give this instance another" \
      "port (its port export: \"port: <n>;\" in the instances file), or free that one" >&2
    exit 1
  fi
}

# config_generation: the parent's configuration generation (mod_status), which a graceful reload increments
config_generation() {
  curl -sf --max-time 5 "http://$ip:$port/server-status?auto" | sed -n 's/^ParentServerConfigGeneration: //p'
}

# write_config: httpd.conf from the instance's ip and port and one BalancerMember per imported Tomcat
# (Tomcat_size, Tomcat_<i>_ip, Tomcat_<i>_port); checked with `apache2 -t` before it replaces the current one
write_config() {
  local c module member_ip member_port
  require ip port
  mkdir -p "$RUN_DIR"
  {
    echo "# Written by the Apache recipe of $ROBOCONF_INSTANCE_PATH"
    echo "ServerRoot \"$RUN_DIR\""
    echo "ServerName $ip"
    echo "Listen $ip:$port"
    echo "PidFile \"$PID_FILE\""
    echo "ErrorLog \"$RUN_DIR/error.log\""
    echo "DefaultRuntimeDir \"$RUN_DIR\""
    echo "Mutex file:$RUN_DIR default"
    for module in $MODULES; do echo "LoadModule ${module}_module $MODULES_DIR/mod_$module.so"; done
    # workers drop root (Apache refuses to serve as root); ignored when not started as root
    echo "User www-data"
    echo "Group www-data"
    # a small event MPM; ServerLimit leaves room for a second generation during a graceful reload (the old
    # generation's children keep their slots while they finish), and the spare-thread bounds fit MaxRequestWorkers
    # (the defaults, 75 to 250 spare threads, made Apache fill every slot at start, so after a reload the new
    # generation found the scoreboard full and served nothing)
    echo "StartServers 1"
    echo "ServerLimit 4"
    echo "ThreadsPerChild 16"
    echo "MaxRequestWorkers 32"
    echo "MinSpareThreads 8"
    echo "MaxSpareThreads 32"
    echo "ExtendedStatus On"
    echo "<Location \"/server-status\">"
    echo "  SetHandler server-status"
    echo "  Require all granted"
    echo "</Location>"
    echo "<Proxy \"balancer://tomcats\">"
    for ((c = 0; c < ${Tomcat_size:-0}; c++)); do
      require "Tomcat_${c}_ip" "Tomcat_${c}_port"
      member_ip="Tomcat_${c}_ip" member_port="Tomcat_${c}_port"
      echo "  BalancerMember \"http://${!member_ip}:${!member_port}\""
    done
    echo "  ProxySet lbmethod=byrequests"
    echo "</Proxy>"
    echo "ProxyPass \"/server-status\" \"!\""
    echo "ProxyPass \"/\" \"balancer://tomcats/\""
    echo "ProxyPassReverse \"/\" \"balancer://tomcats/\""
  } >"$CONF.new"
  if ! "$APACHE_BIN" -d "$RUN_DIR" -f "$CONF.new" -t >"$RUN_DIR/configtest.log" 2>&1; then
    echo "$ROBOCONF_INSTANCE_PATH: the new Apache configuration ($CONF.new) is refused:" >&2
    cat "$RUN_DIR/configtest.log" >&2
    exit 1
  fi
  mv "$CONF.new" "$CONF"
}

# graceful_reload: the running parent re-reads httpd.conf without stopping (apachectl graceful); waits until the
# new configuration generation serves, so the next request already sees the new members
graceful_reload() {
  local before
  before=$(config_generation || true)
  httpd -k graceful
  for _ in $(seq 1 $((RELOAD_TIMEOUT_S * 10))); do
    [ "$(config_generation)" != "$before" ] && return 0
    sleep 0.1
  done
  echo "$ROBOCONF_INSTANCE_PATH: Apache did not reload within ${RELOAD_TIMEOUT_S}s; see $RUN_DIR/error.log" >&2
  return 1
}
