#!/usr/bin/env bash
# Deploys the database on MariaDB: creates it with the table holding the value every Tomcat serves.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/mariadb.sh"
wait_for_mariadb
sql <<SQL
CREATE DATABASE IF NOT EXISTS \`$database\`;
CREATE TABLE IF NOT EXISTS \`$database\`.lamp_values (name VARCHAR(64) PRIMARY KEY, value VARCHAR(255) NOT NULL);
INSERT IGNORE INTO \`$database\`.lamp_values VALUES ('message', 'Hello from MariaDB, $ROBOCONF_INSTANCE_PATH');
SQL
