# Helpers of the MySQL recipes, sourced by the action scripts: SQL on the host's MariaDB server at $ip:$port
# with the exported user and password. The server is the host's (Debian's mariadb-server), shared by every
# instance; each MySQL instance owns one database on it.

READY_TIMEOUT_S=30 # how long wait_for_mariadb waits for the server to answer, in seconds

# require <variable>...: fails, naming the Roboconf variable, when one is empty
require() {
  local variable
  for variable; do
    if [ -z "${!variable:-}" ]; then
      echo "$ROBOCONF_INSTANCE_PATH: \$$variable is empty; the agent sets it from the instance's exports" >&2
      exit 1
    fi
  done
}

require ip port database user
if ! [[ $database =~ ^[A-Za-z0-9_]{1,64}$ ]]; then
  echo "$ROBOCONF_INSTANCE_PATH: database \"$database\" is not a plain MariaDB name (letters, digits, _; at most 64)" >&2
  exit 1
fi
if ! command -v mariadb >/dev/null && ! command -v mysql >/dev/null; then
  echo "$ROBOCONF_INSTANCE_PATH: no MariaDB client; install it: apt-get install -y mariadb-client" >&2
  exit 1
fi

# sql [mysql option]...: runs the SQL of stdin (or -e) against the server
sql() {
  MYSQL_PWD="${password:-}" "$(command -v mariadb || command -v mysql)" --protocol=TCP --host="$ip" --port="$port" \
    --user="$user" --batch --skip-column-names "$@"
}

wait_for_mariadb() {
  for _ in $(seq 1 "$READY_TIMEOUT_S"); do
    sql -e 'SELECT 1' >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "$ROBOCONF_INSTANCE_PATH: MariaDB does not answer at $ip:$port as $user:" \
    "$(sql -e 'SELECT 1' 2>&1 | tail -n 1). Start the host's server (mariadb-server) or fix the exports." >&2
  return 1
}
