#!/usr/bin/env bash
# What the test suite needs on this host (Debian), installed and started when missing. `.ci/run` runs it, and so does
# `npm test` (pretest). Idempotent: a package already installed, a service already listening, a grant already made
# is left as it is, so a second run changes nothing and takes well under a second.
# As root it installs and starts what is missing; otherwise it only checks, and says exactly what to run.
# Add what a new test needs here (a Debian package to PACKAGES, a service below), not in the test.
set -u
cd "$(dirname "$0")/.."

# Debian packages, each with the tests that need it.
PACKAGES=(
  rabbitmq-server        # RabbitMQ at 127.0.0.1:5672, guest/guest: messaging, dm-amqp, chaos, bench-amqp-hub
  iproute2               # ip netns (targets, mesh-netns), ss -K (connection resets)
  puppet                 # plugin-puppet
  apache2                # lamp-apache: Apache httpd, mod_proxy_balancer
  tomcat10               # lamp-apache: Tomcat 10 (CATALINA_HOME /usr/share/tomcat10)
  libmariadb-java        # lamp-apache: the JDBC driver /usr/share/java/mariadb-java-client.jar
  default-jdk-headless   # lamp-apache: javac compiles the servlet
  curl                   # lamp-apache: Apache's recipes read mod_status
  mariadb-client         # lamp-apache: MySQL's recipes and the tests run SQL
  mariadb-server         # lamp-apache: the host's MariaDB server at 127.0.0.1:3306
  chromium               # console-*: the web console's browser tests (playwright-core drives /usr/bin/chromium)
)

root=0; [ "$(id -u)" = 0 ] && root=1
problems=()   # without root: what is missing
fixes=()      # without root: the commands that fix it

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_listening() { # wait_listening <port>: up to 60 s
  for _ in $(seq 1 60); do listening "$1" && return 0; sleep 1; done
  echo "test-setup: nothing listens on 127.0.0.1:$1 after 60 s" >&2; return 1
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
else
  echo "test-setup: not a Debian host (no dpkg-query): install the equivalents of ${PACKAGES[*]} yourself" >&2
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ $root = 1 ]; then
    echo "test-setup: installing ${missing[*]}"
    apt-get update -qq || exit 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || exit 1
  else
    problems+=("Debian packages not installed: ${missing[*]}")
    fixes+=("sudo apt-get install -y ${missing[*]}")
  fi
fi

# Services: started here when nothing listens on their port (never restarted: other runs may be using them).
if ! listening 5672; then
  if [ $root = 1 ]; then
    echo "test-setup: starting RabbitMQ"
    rabbitmq-server -detached && wait_listening 5672 || exit 1
  else
    problems+=("RabbitMQ is not running at 127.0.0.1:5672")
    fixes+=("sudo rabbitmq-server -detached")
  fi
fi
if ! listening 3306; then
  if [ $root = 1 ]; then
    echo "test-setup: starting MariaDB"
    service mariadb start >/dev/null && wait_listening 3306 || exit 1
  else
    problems+=("MariaDB is not running at 127.0.0.1:3306")
    fixes+=("sudo service mariadb start")
  fi
fi

# lamp-apache reaches the server as root over TCP from loopback, with no password (Debian's root@localhost only
# logs in through the Unix socket).
if ! mariadb -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1; then
  grant="CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION"
  if [ $root = 1 ]; then
    echo "test-setup: granting root@127.0.0.1 on MariaDB"
    mariadb -e "$grant" || exit 1
  else
    problems+=("MariaDB does not let root in over TCP from 127.0.0.1 without a password")
    fixes+=("sudo mariadb -e \"$grant\"")
  fi
fi

if [ ${#problems[@]} -gt 0 ]; then
  {
    echo "The tests need, on this host:"
    printf '  - %s\n' "${problems[@]}"
    echo "Run as root: sudo scripts/test-setup.sh (installs and starts all of it), or each of:"
    printf '  %s\n' "${fixes[@]}"
    echo "then npm test (as root: network namespaces)."
  } >&2
  exit 1
fi
exit 0
