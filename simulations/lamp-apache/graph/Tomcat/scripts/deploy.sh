#!/usr/bin/env bash
# Deploys Tomcat: a CATALINA_BASE with Debian's default conf files and the LAMP web application (the servlet,
# compiled here, and the MariaDB JDBC driver).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tomcat.sh"
for needed in "$TOMCAT_HOME/bin/catalina.sh:tomcat10" "$SERVLET_API:tomcat10" "$JDBC_DRIVER:libmariadb-java"; do
  if [ ! -e "${needed%%:*}" ]; then
    echo "$ROBOCONF_INSTANCE_PATH: ${needed%%:*} is missing; install it: apt-get install -y ${needed##*:}" >&2
    exit 1
  fi
done
command -v javac >/dev/null || { echo "$ROBOCONF_INSTANCE_PATH: javac is missing; install it: apt-get install -y default-jdk-headless" >&2; exit 1; }
app="$BASE/webapps/ROOT/WEB-INF"
mkdir -p "$BASE"/{conf,logs,temp,work} "$app/classes" "$app/lib"
cp "$TOMCAT_HOME/etc/catalina.properties" "$TOMCAT_HOME/etc/logging.properties" "$TOMCAT_HOME/etc/web.xml" "$BASE/conf/"
cp "$ROBOCONF_FILES_DIR/web.xml" "$app/web.xml"
cp "$JDBC_DRIVER" "$app/lib/"
javac -nowarn -encoding UTF-8 -cp "$SERVLET_API" -d "$app/classes" "$ROBOCONF_FILES_DIR/LampServlet.java"
