#!/usr/bin/env bash
# Drops the schema this simulation created.
set -euo pipefail
: "${ip:?}" "${port:?}" "${schema:?}"
mariadb -h "$ip" -P "$port" -u root --protocol=TCP -e "DROP DATABASE IF EXISTS \`$schema\`"
