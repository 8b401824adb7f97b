# Tomcat's configuration, sourced by start.sh and update.sh after service.sh.

# write_config: run/tomcat.conf from Roboconf's environment: the instance's name, ip and port, and the first MySQL
# it imports (MySQL_0_ip, MySQL_0_port). The running Tomcat re-reads it at each request.
write_config() {
  require ip port MySQL_0_ip MySQL_0_port
  mkdir -p "$RUN_DIR"
  cat >"$RUN_DIR/tomcat.conf.new" <<CONF
# written by the Tomcat recipe of $ROBOCONF_INSTANCE_PATH
name = $ROBOCONF_INSTANCE_PATH
host = $ip
port = $port
database = http://$MySQL_0_ip:$MySQL_0_port
key = message
CONF
  mv "$RUN_DIR/tomcat.conf.new" "$RUN_DIR/tomcat.conf"
}
