# Writes run/apache.conf from Roboconf's environment: the instance's ip and port, and one balancer member per
# imported Tomcat (Tomcat_size, Tomcat_<i>_ip, Tomcat_<i>_port). Sourced by start.sh and update.sh.
write_config() {
  local c
  require ip port
  mkdir -p "$RUN_DIR"
  {
    echo "# written by the Apache recipe of $ROBOCONF_INSTANCE_PATH"
    echo "host = $ip"
    echo "port = $port"
    for ((c = 0; c < ${Tomcat_size:-0}; c++)); do
      require "Tomcat_${c}_ip" "Tomcat_${c}_port"
      local member_ip="Tomcat_${c}_ip" member_port="Tomcat_${c}_port"
      echo "member = http://${!member_ip}:${!member_port}"
    done
  } >"$RUN_DIR/apache.conf.new"
  # rename: the proxy never reads a half-written file
  mv "$RUN_DIR/apache.conf.new" "$RUN_DIR/apache.conf"
}
