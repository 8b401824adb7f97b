#!/usr/bin/env bash
# Removes the database from MariaDB.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/mariadb.sh"
wait_for_mariadb
sql -e "DROP DATABASE IF EXISTS \`$database\`"
