#!/bin/sh
# Runs a command in a new network namespace that has only loopback, and a private mount namespace
# whose /etc/resolv.conf names 127.0.0.1, where the harness's DNS recorder listens: nothing a CLI
# tries can leave the machine, and every host name it tries to reach is recorded. Needs root (or
# CAP_SYS_ADMIN). Usage: sh isolated.sh node dist/capture.js [options]
set -eu
exec unshare --net --mount sh -c '
  set -eu
  ip link set lo up
  resolv=$(mktemp)
  echo "nameserver 127.0.0.1" > "$resolv"
  mount --bind "$resolv" /etc/resolv.conf
  exec "$@"
' isolated "$@"
