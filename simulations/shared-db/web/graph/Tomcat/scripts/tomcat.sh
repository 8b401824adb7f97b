# Tomcat's configuration, sourced by start.sh and update.sh after service.sh.

# write_config: run/tomcat.conf from Roboconf's environment: the instance's name, ip and port, and the first
# database it imports from the other application (Db_0_ip, Db_0_port, Db_0_engine, Db_0_schema with engine mariadb).
# The running Tomcat re-reads it at each request.
write_config() {
  require ip port Db_0_ip Db_0_port Db_0_engine
  local database
  case "$Db_0_engine" in
    http) database="http://$Db_0_ip:$Db_0_port" ;;
    mariadb) require Db_0_schema; database="mariadb://$Db_0_ip:$Db_0_port/$Db_0_schema" ;;
    *) echo "$ROBOCONF_INSTANCE_PATH: unknown database engine \"$Db_0_engine\" (http or mariadb)" >&2; exit 1 ;;
  esac
  mkdir -p "$RUN_DIR"
  cat >"$RUN_DIR/tomcat.conf.new" <<CONF
# written by the Tomcat recipe of $ROBOCONF_INSTANCE_PATH
name = $ROBOCONF_INSTANCE_PATH
host = $ip
port = $port
database = $database
key = message
CONF
  mv "$RUN_DIR/tomcat.conf.new" "$RUN_DIR/tomcat.conf"
}
