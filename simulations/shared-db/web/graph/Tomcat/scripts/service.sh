# Process helpers of the LAMP recipes, sourced by the action scripts (cwd = this folder, Roboconf's script
# environment). An agent receives only its own component's recipe folder, so this file is copied, byte for byte,
# in graph/MySQL, graph/Tomcat and graph/Apache (test/lamp-recipes.test.ts keeps the copies identical).
# Runtime files (config, pid file, log, data) live in "run/" next to the instance's files folder.

: "${ROBOCONF_FILES_DIR:?is not set: run the recipe through the script plug-in, or set it to <instance folder>/files}"
: "${ROBOCONF_INSTANCE_PATH:?is not set: run the recipe through the script plug-in}"
RUN_DIR="$(dirname "$ROBOCONF_FILES_DIR")/run"
START_TIMEOUT_S=20 # how long start_service waits for the service to listen, in seconds
STOP_TIMEOUT_S=10  # how long stop_service waits after SIGTERM before SIGKILL, in seconds

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

# running <pid>: true while the process exists and has not exited (a zombie waiting for its reaper counts as gone)
running() {
  [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# service_pid <service>: prints the pid of the running <service>.mjs; fails when it does not run
service_pid() {
  local pid
  pid=$(cat "$RUN_DIR/$1.pid" 2>/dev/null) && [ -n "$pid" ] && running "$pid" &&
    grep -qa "$1.mjs" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

# start_service <service> <argument>...: starts $ROBOCONF_FILES_DIR/<service>.mjs in its own session (it outlives
# the agent's script run), logging to run/<service>.log, and waits until it listens (it then writes its pid file)
start_service() {
  local service=$1 child
  shift
  mkdir -p "$RUN_DIR"
  rm -f "$RUN_DIR/$service.pid"
  setsid nohup node "$ROBOCONF_FILES_DIR/$service.mjs" "$@" --pid-file "$RUN_DIR/$service.pid" \
    >>"$RUN_DIR/$service.log" 2>&1 </dev/null &
  child=$!
  for _ in $(seq 1 $((START_TIMEOUT_S * 10))); do
    [ -s "$RUN_DIR/$service.pid" ] && return 0
    running "$child" || break
    sleep 0.1
  done
  kill "$child" 2>/dev/null || true
  echo "$ROBOCONF_INSTANCE_PATH: $service did not start listening; last lines of $RUN_DIR/$service.log:" >&2
  tail -n 20 "$RUN_DIR/$service.log" >&2
  return 1
}

# stop_service <service>: SIGTERM, then SIGKILL when it is still there after STOP_TIMEOUT_S
stop_service() {
  local pid
  if pid=$(service_pid "$1"); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((STOP_TIMEOUT_S * 10))); do
      running "$pid" || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/$1.pid"
}
