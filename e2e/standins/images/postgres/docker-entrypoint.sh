#!/bin/bash
# Entrypoint of kindstack's postgres stand-in image: Debian's PostgreSQL 15, started the way the
# official `postgres` image does it. Honours POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
# POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD and PGDATA; initialises PGDATA on first start and
# runs /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh once; then serves on 5432 on all addresses,
# with password auth (scram-sha-256) for remote clients.
set -Eeuo pipefail

export PGDATA=${PGDATA:-/var/lib/postgresql/data}
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
AUTH=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%F %T UTC')" "$*" >&2; }

if [ "${1:-}" = "" ] || [ "${1:0:1}" = "-" ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

# As root: prepare directories, then run this script again as the postgres user.
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$AUTH" != trust ]; then
    log "Database is uninitialized and superuser password is not specified."
    log "Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)."
    exit 1
  fi
  log "initialising $PGDATA (user $POSTGRES_USER)"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of flags on purpose
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=trust ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA" >&2
  printf '\nhost all all all %s\n' "$AUTH" >> "$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

  # A private server on the unix socket only, for the init scripts.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >&2
  psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [ "$POSTGRES_DB" != postgres ]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;' >&2
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh) log "running $f"; if [ -x "$f" ]; then "$f"; else # shellcheck disable=SC1090
              . "$f"; fi ;;
      *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" >&2 ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" >&2 ;;
      *) log "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >&2
  log "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
