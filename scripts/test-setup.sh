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
  docker.io              # docker-*: the Docker Engine (dockerd, and iptables), the docker target's machines
  prometheus             # obs-metrics: a real Prometheus scrapes the DM and agents (the test runs its own on a free port)
  zsh                    # cli-verbs: the zsh completion script parses and completes
  fish                   # cli-verbs: the fish completion script parses and completes
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
start_service() { # start_service <name> <port> <command...>
  local name=$1 port=$2; shift 2
  listening "$port" && return 0
  if [ $root = 1 ]; then
    echo "test-setup: starting $name"
    "$@" >/dev/null && wait_listening "$port" || exit 1
  else
    problems+=("$name is not running at 127.0.0.1:$port")
    fixes+=("sudo $*")
  fi
}
start_service RabbitMQ 5672 rabbitmq-server -detached
# RabbitMQ's management HTTP API (127.0.0.1:15672): the DM makes one broker user per machine through it
# (manager/messaging/broker-users.ts). A plug-in is enabled on the running node: no restart.
if ! listening 15672; then
  if [ $root = 1 ]; then
    echo "test-setup: enabling rabbitmq_management"
    rabbitmq-plugins enable rabbitmq_management >/dev/null && wait_listening 15672 || exit 1
  else
    problems+=("RabbitMQ's management API is not enabled (127.0.0.1:15672)")
    fixes+=("sudo rabbitmq-plugins enable rabbitmq_management")
  fi
fi
start_service MariaDB 3306 service mariadb start

# dockerd sets the iptables FORWARD policy to DROP, which cuts network namespaces off each other: accept forwarding
# inside 10.192.0.0/10, where the netns target's namespaces and the benchmarks' live (the targets add the same rule,
# manager/targets/forwarding.ts). Added before dockerd starts, so that no netns test running alongside sees a gap.
netns_rule=(FORWARD -s 10.192.0.0/10 -d 10.192.0.0/10 -m comment --comment meshconf-netns -j ACCEPT)
docker_answers() { [ -S /var/run/docker.sock ] && docker version >/dev/null 2>&1; }
if [ $root = 1 ]; then
  iptables -w -C "${netns_rule[@]}" 2>/dev/null || iptables -w -I "${netns_rule[@]}" || exit 1
  if ! docker_answers; then
    # no systemd on the CI machine: dockerd in its own session, outliving this script (never stopped: shared)
    echo "test-setup: starting dockerd (log: /var/log/dockerd.log)"
    setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
    for _ in $(seq 1 60); do docker_answers && break; sleep 1; done
    docker_answers || { echo "test-setup: dockerd does not answer after 60 s: see /var/log/dockerd.log" >&2; exit 1; }
  fi
  # the agent image of this build (meshconf-agent:<version>); a build whose inputs did not change only checks them.
  # Before npm ci (a fresh clone) there is nothing to build it from yet: npm test's pretest comes back here.
  if [ -e dist/agent/main.bundle.js ] && [ -e node_modules/dockerode ]; then
    node bin/meshconf.js image build >/dev/null || { echo "test-setup: meshconf image build failed" >&2; exit 1; }
  fi
elif ! docker_answers; then
  problems+=("the Docker Engine is not running (or not reachable as this user)")
  fixes+=("sudo setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &")
fi

# Puppet makes its folders (/etc/puppet/devices, its vardir) on its first run, and two first runs at once race
# (`File exists @ dir_s_mkdir`): plugin-puppet's applies and the DM's `puppet parser validate` run side by side.
# One run here makes them before any test does.
if [ $root = 1 ] && command -v puppet >/dev/null 2>&1 && [ ! -d /etc/puppet/devices ]; then
  puppet apply --noop --execute '' >/dev/null 2>&1 || { echo "test-setup: puppet apply --noop failed" >&2; exit 1; }
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
