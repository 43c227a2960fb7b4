#!/usr/bin/env bash
# The failover drill (docs/operations.md, "PostgreSQL alone"): starts a
# PostgreSQL primary and a synchronous streaming replica on this machine
# (PostgreSQL's own initdb, pg_basebackup and promote, on ports 5441 and
# 5442, in a temporary directory), then runs tests/failover, which puts two
# Gatehouse instances on them through a TCP forwarder, keeps them busy, and
# calls this script's `fail-over` to stop the primary and promote the
# replica mid-run. The measured times go to target/failover-report.md.
#
#   bash scripts/failover-test.sh            # the drill
#   bash scripts/failover-test.sh fail-over  # (from the drill) stop and promote
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
primary_port=5441
replica_port=5442

# PostgreSQL refuses to run as root: as root, run its tools as `postgres`.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = fail-over ]; then
  dir="${GATEHOUSE_FAILOVER_DIR:?set by the drill}"
  # Immediate: the primary goes away as in a crash, mid-request.
  as_postgres "$pg_bin/pg_ctl" -D "$dir/primary" -m immediate -w stop >/dev/null
  as_postgres "$pg_bin/pg_ctl" -D "$dir/replica" -w promote >/dev/null
  # The promoted server has no standby of its own yet: it stops waiting for
  # one, as a failover manager does (Patroni's synchronous_mode); until it
  # does, every commit that must last waits.
  as_postgres "$pg_bin/psql" -q -h 127.0.0.1 -p "$replica_port" -U postgres \
    -c "ALTER SYSTEM SET synchronous_standby_names = ''" -c "SELECT pg_reload_conf()" >/dev/null
  exit 0
fi

dir="$(mktemp -d /tmp/gatehouse-failover.XXXXXX)"
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
stop_all() {
  for cluster in primary replica; do
    [ -f "$dir/$cluster/postmaster.pid" ] && as_postgres "$pg_bin/pg_ctl" -D "$dir/$cluster" -m immediate -w stop >/dev/null 2>&1
  done
  rm -rf "$dir"
}
trap stop_all EXIT

echo "==> a primary on $primary_port and a synchronous replica on $replica_port ($pg_bin)"
as_postgres "$pg_bin/initdb" -D "$dir/primary" -U postgres -A trust >/dev/null
cat >> "$dir/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $primary_port
unix_socket_directories = '$dir'
max_connections = 100
fsync = on
# Every commit that must last waits for the replica (docs/operations.md).
synchronous_standby_names = 'replica'
CONF
as_postgres "$pg_bin/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start >/dev/null
as_postgres "$pg_bin/pg_basebackup" -D "$dir/replica" -R -X stream \
  -d "host=127.0.0.1 port=$primary_port user=postgres application_name=replica"
sed -i "s/^port = $primary_port/port = $replica_port/" "$dir/replica/postgresql.conf"
as_postgres "$pg_bin/pg_ctl" -D "$dir/replica" -l "$dir/replica.log" -w start >/dev/null
as_postgres "$pg_bin/psql" -q -h 127.0.0.1 -p "$primary_port" -U postgres -c "CREATE DATABASE gatehouse"
sync_state="$(as_postgres "$pg_bin/psql" -tA -h 127.0.0.1 -p "$primary_port" -U postgres -c "SELECT sync_state FROM pg_stat_replication")"
[ "$sync_state" = sync ] || { echo "the replica is not synchronous ($sync_state)" >&2; exit 1; }

echo "==> the drill: two instances under load, the primary stopped and the replica promoted mid-run"
export GATEHOUSE_FAILOVER_DIR="$dir"
export GATEHOUSE_FAILOVER_PRIMARY_PORT=$primary_port GATEHOUSE_FAILOVER_REPLICA_PORT=$replica_port
export GATEHOUSE_FAILOVER_COMMAND="bash $root/scripts/failover-test.sh fail-over"
cd "$root"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run -p gatehouse --test failover --no-capture
else
  cargo test -p gatehouse --test failover -- --nocapture
fi
