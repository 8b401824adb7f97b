# Helpers of the Tomcat recipes, sourced by the action scripts (Roboconf's script environment). Each instance
# runs Debian's Tomcat 10 (CATALINA_HOME) with its own CATALINA_BASE in "run/" next to the instance's files:
# its ports, its web application, its logs. The system tomcat10 service is never used.

: "${ROBOCONF_FILES_DIR:?is not set: run the recipe through the script plug-in, or set it to <instance folder>/files}"
: "${ROBOCONF_INSTANCE_PATH:?is not set: run the recipe through the script plug-in}"
RUN_DIR="$(dirname "$ROBOCONF_FILES_DIR")/run"
BASE="$RUN_DIR/catalina-base"
PID_FILE="$RUN_DIR/tomcat.pid"
TOMCAT_HOME=/usr/share/tomcat10
SERVLET_API=/usr/share/java/tomcat10-servlet-api.jar
JDBC_DRIVER=/usr/share/java/mariadb-java-client.jar
START_TIMEOUT_S=120 # how long start.sh waits for Tomcat to listen, in seconds (a JVM on a busy host is slow)
STOP_TIMEOUT_S=30   # how long stop.sh waits after SIGTERM before SIGKILL, in seconds

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

# listening <ip> <port>: true when a process accepts TCP connections there
listening() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# refuse_port_in_use: fails when another process already holds the exported port (another application on the
# host, a Tomcat left over): this Tomcat could not bind it, and its start would seem to succeed
refuse_port_in_use() {
  if listening "$ip" "$port"; then
    echo "$ROBOCONF_INSTANCE_PATH: $ip:$port is already in use by another process; give this instance another" \
      "port (its port export: \"port: <n>;\" in the instances file), or free that one" >&2
    exit 1
  fi
}

# tomcat_pid: prints the pid of this instance's running Tomcat; fails when it does not run
tomcat_pid() {
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) && [ -n "$pid" ] && running "$pid" &&
    grep -qa "catalina.base=$BASE" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

# write_config: the connector's address and port (conf/server.xml, read at start) and the database the servlet
# reads (conf/lamp.properties, read at each request) from the instance's exports and its first MySQL import
write_config() {
  require ip port MySQL_0_ip MySQL_0_port MySQL_0_database MySQL_0_user
  mkdir -p "$BASE/conf"
  cat >"$BASE/conf/server.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by the Tomcat recipe of $ROBOCONF_INSTANCE_PATH. No shutdown port: stop.sh signals the JVM. -->
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector address="$ip" port="$port" protocol="HTTP/1.1" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
XML
  local password=${MySQL_0_password:-}
  cat >"$BASE/conf/lamp.properties.new" <<PROPERTIES
# Written by the Tomcat recipe of $ROBOCONF_INSTANCE_PATH; read by LampServlet at each request.
name=${ROBOCONF_INSTANCE_PATH//\\/\\\\}
url=jdbc:mariadb://$MySQL_0_ip:$MySQL_0_port/$MySQL_0_database
user=${MySQL_0_user//\\/\\\\}
password=${password//\\/\\\\}
key=message
PROPERTIES
  # rename: the servlet never reads a half-written file
  mv "$BASE/conf/lamp.properties.new" "$BASE/conf/lamp.properties"
}
