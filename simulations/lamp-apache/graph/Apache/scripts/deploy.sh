#!/usr/bin/env bash
# Deploys Apache: checks Debian's apache2 and the modules this instance loads, and makes its ServerRoot.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/apache.sh"
if [ ! -x "$APACHE_BIN" ]; then
  echo "$ROBOCONF_INSTANCE_PATH: $APACHE_BIN is missing; install it: apt-get install -y apache2" >&2
  exit 1
fi
for module in $MODULES; do
  if [ ! -e "$MODULES_DIR/mod_$module.so" ]; then
    echo "$ROBOCONF_INSTANCE_PATH: $MODULES_DIR/mod_$module.so is missing; install it: apt-get install -y apache2" >&2
    exit 1
  fi
done
command -v curl >/dev/null || { echo "$ROBOCONF_INSTANCE_PATH: curl is missing; install it: apt-get install -y curl" >&2; exit 1; }
mkdir -p "$RUN_DIR"
