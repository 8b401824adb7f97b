#!/usr/bin/env bash
# Creates the schema and the value the web applications serve (kept when already there).
set -euo pipefail
: "${ip:?}" "${port:?}" "${schema:?}"
mariadb -h "$ip" -P "$port" -u root --protocol=TCP -e "
  CREATE DATABASE IF NOT EXISTS \`$schema\`;
  CREATE TABLE IF NOT EXISTS \`$schema\`.kv (k VARCHAR(64) PRIMARY KEY, v TEXT NOT NULL);
  INSERT IGNORE INTO \`$schema\`.kv VALUES ('message', CONCAT('Hello from MariaDB ', VERSION(), ' via $ROBOCONF_INSTANCE_PATH'));"
