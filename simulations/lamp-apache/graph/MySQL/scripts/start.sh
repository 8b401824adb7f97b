#!/usr/bin/env bash
# Starts the database: the host's MariaDB server must answer and hold the deployed table.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/mariadb.sh"
wait_for_mariadb
sql -e "SELECT value FROM \`$database\`.lamp_values WHERE name = 'message'" >/dev/null
