#!/usr/bin/env bash
# Start a throwaway PostgreSQL on 127.0.0.1 for the store tests and hand out its URL.
#
#   bash .ci/postgres.sh            prints `export CONFGUARD_TEST_POSTGRES_URL=...`
#   bash .ci/postgres.sh FILE       writes that line to FILE, for .ci/run to source
#
# Idempotent: a server already running on the data dir is reused. It never fails CI:
# when PostgreSQL cannot be installed or started it says why on stderr and exits 0
# without a URL, so the PostgreSQL tests skip (and say so) instead.
set -u

PORT="${CONFGUARD_PG_PORT:-55432}"
DATA="${CONFGUARD_PG_DATA:-/tmp/confguard-pg}"
DB=confguard_test
ROLE=confguard
PASSWORD=confguard-test
OUT="${1:-}"

say() { echo "postgres.sh: $*" >&2; }
give_up() { say "$*; the PostgreSQL tests will be skipped"; exit 0; }
# An empty file first, so a stale URL from an earlier run is never sourced.
[ -n "$OUT" ] && : >"$OUT"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_postgres() {
    [ -n "$(bindir)" ] && return 0
    command -v apt-get >/dev/null || return 1
    say "installing Debian's postgresql"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq postgresql >&2
}

as_postgres() { runuser -u postgres -- "$@"; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A pid file alone is not enough: a killed server can leave a zombie holding its pid.
running() {
    as_postgres "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 &&
        as_postgres "$BIN/psql" -h "$DATA" -p "$(sed -n 4p "$DATA/postmaster.pid")" \
            -U postgres -d postgres -qAtc 'SELECT 1' >/dev/null 2>&1
}

INITLOG="$(mktemp)"
chmod 644 "$INITLOG"
trap 'rm -f "$INITLOG"' EXIT

init_cluster() {
    rm -rf "$DATA" && mkdir -p "$DATA" && chown postgres: "$DATA" && chmod 700 "$DATA" &&
        as_postgres "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 >"$INITLOG" 2>&1
}

start_cluster() {
    while port_busy "$PORT"; do PORT=$((PORT + 1)); done
    # Durability is pointless for a throwaway test server; speed is not.
    as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 30 start \
        -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off" >&2
}

create_user_and_db() {
    as_postgres "$BIN/psql" -h "$DATA" -p "$PORT" -U postgres -d postgres -qAt \
        -v ON_ERROR_STOP=1 >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $DB OWNER $ROLE'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB') \gexec
SQL
}

install_postgres || give_up "PostgreSQL is not installed and apt-get could not install it"
BIN="$(bindir)"
[ -n "$BIN" ] || give_up "no PostgreSQL binaries under /usr/lib/postgresql"
id postgres >/dev/null 2>&1 || give_up "there is no 'postgres' system user"

if running; then
    PORT="$(sed -n 4p "$DATA/postmaster.pid")"
    say "reusing the server already running on $DATA (port $PORT)"
else
    if [ ! -s "$DATA/PG_VERSION" ]; then
        init_cluster || give_up "could not initialise $DATA: $(tail -n 3 "$INITLOG")"
    fi
    if ! start_cluster; then
        say "start failed on the existing data dir; initialising a fresh one"
        init_cluster || give_up "could not initialise $DATA: $(tail -n 3 "$INITLOG")"
        start_cluster || give_up "the server did not start: $(tail -n 5 "$DATA/server.log")"
    fi
fi

create_user_and_db || give_up "could not create the role or database"

LINE="export CONFGUARD_TEST_POSTGRES_URL=postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
if [ -n "$OUT" ]; then echo "$LINE" >"$OUT"; say "wrote $OUT"; else echo "$LINE"; fi
