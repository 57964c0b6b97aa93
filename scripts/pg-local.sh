#!/usr/bin/env bash
# pg-local.sh start|stop|status|url
#
# A private PostgreSQL server on 127.0.0.1 for Optuna tuning storages (tuning.storage:
# postgresql+psycopg2://...) and for the slow tests tests/test_engines_postgres.py. Its own data
# folder and port: it does not touch a system cluster. Debian/Ubuntu package postgresql (installed
# with apt when missing); no systemd needed. Runs as root (re-runs itself with sudo otherwise); the
# server itself runs as the OS user postgres (initdb refuses root).
#
#   start   install what is missing, initdb on first use, start the server, create the role and the
#           database (the role may create databases: the tests use one database each), print the URL.
#           Idempotent: a running server is left as it is.
#   stop    stop the server (PG_LOCAL_WIPE=1 also deletes its data folder).
#   status  exit 0 when the server runs, else 3.
#   url     print the storage URL (postgresql+psycopg2://USER:PASSWORD@127.0.0.1:PORT/DB).
#
# Environment (all optional):
#   PG_LOCAL_DIR       data, socket and log folder (default: /tmp/ecabench-pg; must be reachable by
#                      the postgres user, so not under /root)
#   PG_LOCAL_PORT      TCP port on 127.0.0.1 (default: 5433, beside a system server on 5432)
#   PG_LOCAL_DB, PG_LOCAL_USER, PG_LOCAL_PASSWORD   (default: optuna, optuna, optuna)
#
# A throw-away test server: fsync, synchronous_commit and full_page_writes are off.
set -euo pipefail

BASE=${PG_LOCAL_DIR:-/tmp/ecabench-pg}
PORT=${PG_LOCAL_PORT:-5433}
DB=${PG_LOCAL_DB:-optuna}
ROLE=${PG_LOCAL_USER:-optuna}
PASS=${PG_LOCAL_PASSWORD:-optuna}
WIPE=${PG_LOCAL_WIPE:-0}
DATA=$BASE/data
SOCK=$BASE/sock
URL="postgresql+psycopg2://$ROLE:$PASS@127.0.0.1:$PORT/$DB"

case "${1:-}" in
  url) echo "$URL"; exit 0 ;;
  start|stop|status) ;;
  *) echo "usage: $0 start|stop|status|url   (env: PG_LOCAL_DIR PG_LOCAL_PORT PG_LOCAL_DB PG_LOCAL_USER PG_LOCAL_PASSWORD PG_LOCAL_WIPE=1)" >&2
     exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "pg-local: ERROR: must run as root (no sudo found)" >&2; exit 1; }
  exec sudo PG_LOCAL_DIR="$BASE" PG_LOCAL_PORT="$PORT" PG_LOCAL_DB="$DB" PG_LOCAL_USER="$ROLE" \
    PG_LOCAL_PASSWORD="$PASS" PG_LOCAL_WIPE="$WIPE" bash "$0" "$@"
fi

log() { echo "pg-local: $*"; }
die() { echo "pg-local: ERROR: $*" >&2; exit 1; }

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
BIN=$(find_bin)

install_pkgs() {
  [ -n "$BIN" ] && [ -x "$BIN/initdb" ] && id postgres >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and there is no apt-get: install postgresql"
  log "installing postgresql (apt-get, log: $BASE/apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq >"$BASE/apt.log" 2>&1 || { tail -20 "$BASE/apt.log" >&2; die "apt-get update failed"; }
  timeout 900 apt-get install -y -q --no-install-recommends postgresql >>"$BASE/apt.log" 2>&1 \
    || { tail -20 "$BASE/apt.log" >&2; die "apt-get install postgresql failed (log: $BASE/apt.log)"; }
  BIN=$(find_bin)
  [ -x "$BIN/initdb" ] || die "initdb not found under /usr/lib/postgresql/*/bin after the install"
  id postgres >/dev/null 2>&1 || die "OS user 'postgres' missing after the install (package postgresql-common creates it)"
}

as_pg() { runuser -u postgres -- "$@"; }
psql_admin() { as_pg timeout 60 "$BIN/psql" -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
running() {
  [ -n "$BIN" ] && [ -f "$DATA/PG_VERSION" ] && id postgres >/dev/null 2>&1 \
    && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
sql_str() { printf "'%s'" "${1//\'/\'\'}"; }   # a SQL string literal

start() {
  mkdir -p "$BASE"; chmod 755 "$BASE"
  install_pkgs
  install -d -o postgres -g postgres -m 0755 "$SOCK"
  if running; then
    log "server already running on 127.0.0.1:$PORT"
  else
    if [ ! -f "$DATA/PG_VERSION" ]; then
      rm -rf "$DATA"; install -d -o postgres -g postgres -m 0700 "$DATA"
      as_pg "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >"$BASE/initdb.log" 2>&1 \
        || { cat "$BASE/initdb.log" >&2; die "initdb failed"; }
      log "initialised $DATA"
    fi
    port_taken && die "port $PORT on 127.0.0.1 is already in use (set PG_LOCAL_PORT)"
    touch "$BASE/server.log"; chown postgres:postgres "$BASE/server.log"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$BASE/server.log" -w -t 60 \
      -o "-p $PORT -k $SOCK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null || { tail -20 "$BASE/server.log" >&2; die "pg_ctl start failed (log: $BASE/server.log)"; }
    log "server started on 127.0.0.1:$PORT (pid $(head -1 "$DATA/postmaster.pid"), log $BASE/server.log)"
  fi
  if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname=$(sql_str "$ROLE")")" != 1 ]; then
    psql_admin -c "CREATE ROLE \"$ROLE\" LOGIN CREATEDB PASSWORD $(sql_str "$PASS")" || die "CREATE ROLE failed"
  else
    psql_admin -c "ALTER ROLE \"$ROLE\" LOGIN CREATEDB PASSWORD $(sql_str "$PASS")" || die "ALTER ROLE failed"
  fi
  if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname=$(sql_str "$DB")")" != 1 ]; then
    psql_admin -c "CREATE DATABASE \"$DB\" OWNER \"$ROLE\"" || die "CREATE DATABASE failed"
  fi
  PGPASSWORD=$PASS PGCONNECT_TIMEOUT=10 timeout 60 "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DB" -qAt -c 'SELECT 1' >/dev/null \
    || die "cannot connect as $ROLE over TCP to 127.0.0.1:$PORT"
  log "ready: $URL"
}

stop() {
  if running; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null || die "pg_ctl stop failed"
    log "server stopped"
  else
    log "server not running"
  fi
  if [ "$WIPE" = 1 ]; then rm -rf "$DATA"; log "wiped $DATA"; fi
}

status() {
  if running; then log "running on 127.0.0.1:$PORT (data $DATA)"; return 0; fi
  log "not running"; return 3
}

"$1"
