#!/usr/bin/env bash
# The server must answer, with the value in place.
set -euo pipefail
: "${ip:?}" "${port:?}" "${schema:?}"
mariadb -h "$ip" -P "$port" -u root --protocol=TCP -N -e "SELECT v FROM \`$schema\`.kv WHERE k = 'message'" >/dev/null
