#!/usr/bin/env bash
# Manage the PostgreSQL instance used by the session-store tests.
#
# Usage: scripts/test-deps.sh up|down|status
#
#   up      Make sure PostgreSQL answers at $BODHI_TEST_PG_URL:
#             1. if it already answers, use it as is (nothing is recorded, `down` leaves it alone);
#             2. else, if a Docker daemon answers, start docker-compose-test-deps.yml;
#             3. else start a throwaway local cluster (installing the Debian `postgresql`
#                package with apt-get if no server binaries are found).
#   down    Stop/remove whatever `up` started (according to the state file).
#   status  Print whether PostgreSQL answers at the URL (exit 0 if it does, 1 otherwise).
#
# Environment:
#   BODHI_TEST_PG_URL  default postgres://bodhi_test:bodhi_test@localhost:54320/bodhi_sessions
#   BODHI_TEST_PG_DIR  data dir of the local cluster, default ${TMPDIR:-/tmp}/bodhi-test-pg-<port>
set -euo pipefail

readonly DEFAULT_URL='postgres://bodhi_test:bodhi_test@localhost:54320/bodhi_sessions'
readonly COMPOSE_FILE='docker-compose-test-deps.yml'
# What docker-compose-test-deps.yml provides; docker mode is only used when the URL matches it.
readonly COMPOSE_PORT=54320 COMPOSE_USER=bodhi_test COMPOSE_PASSWORD=bodhi_test COMPOSE_DB=bodhi_sessions

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[test-deps] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

usage() {
  printf 'Usage: %s up|down|status|pause|resume\n' "$0" >&2
  exit 2
}

urldecode() {
  local s="${1//\\/\\\\}"
  printf '%b' "${s//%/\\x}"
}

redact() { sed -E 's#^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

URL="${BODHI_TEST_PG_URL:-$DEFAULT_URL}"
SAFE_URL="$(redact "$URL")"

url_re='^postgres(ql)?://([^:@/]+)(:([^@/]*))?@(\[[^]/]+\]|[^:/?]+)(:([0-9]+))?/([^?/]+)(\?.*)?$'
if [[ ! "$URL" =~ $url_re ]]; then
  die "cannot parse BODHI_TEST_PG_URL ($SAFE_URL); expected postgres://user:password@host:port/db"
fi
PG_USER="$(urldecode "${BASH_REMATCH[2]}")"
PG_PASSWORD="$(urldecode "${BASH_REMATCH[4]}")"
PG_HOST="${BASH_REMATCH[5]}"
PG_PORT="${BASH_REMATCH[7]:-5432}"
PG_DB="$(urldecode "${BASH_REMATCH[8]}")"
unset url_re

STATE_DIR="${TMPDIR:-/tmp}"
STATE_FILE="$STATE_DIR/bodhi-test-deps-$PG_PORT.state"
LOCK_FILE="$STATE_DIR/bodhi-test-deps-$PG_PORT.lock"
DATA_DIR="${BODHI_TEST_PG_DIR:-$STATE_DIR/bodhi-test-pg-$PG_PORT}"
readonly MARKER='.bodhi-test-pg'

is_local_host() { [[ "$PG_HOST" == localhost || "$PG_HOST" == 127.0.0.1 ]]; }

# ---------------------------------------------------------------------------
# PostgreSQL binaries

# Highest-versioned /usr/lib/postgresql/*/bin containing $1, else the one from PATH.
find_pg_tool() {
  local tool="$1" dir bindir
  for dir in $(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV); do
    if [[ -x "$dir/$tool" ]]; then
      printf '%s\n' "$dir/$tool"
      return 0
    fi
  done
  if command -v pg_config >/dev/null 2>&1; then
    bindir="$(pg_config --bindir 2>/dev/null || true)"
    if [[ -n "$bindir" && -x "$bindir/$tool" ]]; then
      printf '%s\n' "$bindir/$tool"
      return 0
    fi
  fi
  command -v "$tool" 2>/dev/null
}

# Directory holding both initdb and pg_ctl.
find_server_bindir() {
  local initdb
  initdb="$(find_pg_tool initdb)" || return 1
  [[ -x "$(dirname "$initdb")/pg_ctl" ]] || return 1
  dirname "$initdb"
}

install_postgresql() {
  local -a sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 \
      || die "PostgreSQL server binaries not found and not root (no sudo) to install them; install the 'postgresql' package"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 \
    || die "PostgreSQL server binaries not found and apt-get is unavailable; install PostgreSQL (initdb, pg_ctl) manually"
  log "PostgreSQL server binaries not found; installing the 'postgresql' package with apt-get"
  "${sudo[@]}" apt-get update -qq >&2 9>&-
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 9>&-
}

# ---------------------------------------------------------------------------
# Probing

port_open() {
  local host="$PG_HOST"
  host="${host#[}"
  host="${host%]}"
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$PG_PORT" >/dev/null 2>&1
}

# 0 = PostgreSQL accepts a real login with $URL.
# Uses pg_isready and psql when available; without psql a login cannot be verified.
db_answers() {
  local pg_isready psql
  if pg_isready="$(find_pg_tool pg_isready)"; then
    "$pg_isready" -q -d "$URL" -t 3 >/dev/null 2>&1 || return 1
  fi
  if psql="$(find_pg_tool psql)"; then
    PGCONNECT_TIMEOUT=3 "$psql" "$URL" -X -A -t -q -c 'select 1' >/dev/null 2>&1 || return 1
    return 0
  fi
  # No psql: pg_isready (if present) said "accepting connections", which is the best we can do.
  [[ -n "$pg_isready" ]]
}

wait_for_login() {
  local timeout_s="$1" i
  for ((i = 0; i < timeout_s; i++)); do
    db_answers && return 0
    sleep 1
  done
  return 1
}

# ---------------------------------------------------------------------------
# State file (simple key=value lines; parsed, never sourced)

STATE_MODE='' STATE_DATA_DIR='' STATE_BIN_DIR='' STATE_PG_USER=''

read_state() {
  [[ -f "$STATE_FILE" ]] || return 1
  local key value
  while IFS='=' read -r key value; do
    case "$key" in
      mode) STATE_MODE="$value" ;;
      data_dir) STATE_DATA_DIR="$value" ;;
      bin_dir) STATE_BIN_DIR="$value" ;;
      run_as) STATE_PG_USER="$value" ;;
    esac
  done <"$STATE_FILE"
  [[ -n "$STATE_MODE" ]]
}

write_state() {
  local tmp="$STATE_FILE.tmp.$$"
  printf '%s\n' "$@" >"$tmp"
  mv -f "$tmp" "$STATE_FILE"
}

# ---------------------------------------------------------------------------
# Running server commands as the right OS user

RUN_AS='' # empty = current user

choose_run_as() {
  if [[ "$(id -u)" -ne 0 ]]; then
    RUN_AS=''
    return
  fi
  RUN_AS=postgres
  if ! id -u postgres >/dev/null 2>&1; then
    log "creating system user 'postgres' (PostgreSQL refuses to run as root)"
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
      --shell /bin/bash postgres
  fi
}

# as_pg CMD ARGS... : run as $RUN_AS (from / so an unreadable cwd does not matter).
# fd 9 (the lock) is closed so that a started postmaster does not inherit the lock.
as_pg() {
  if [[ -z "$RUN_AS" ]]; then
    (cd / && "$@") 9>&-
  elif command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u "$RUN_AS" -- "$@") 9>&-
  else
    local cmd
    cmd="$(printf '%q ' "$@")"
    (cd / && su "$RUN_AS" -s /bin/bash -c "$cmd") 9>&-
  fi
}

# ---------------------------------------------------------------------------
# Docker

COMPOSE=()

docker_available() {
  command -v docker >/dev/null 2>&1 || return 1
  timeout 5 docker info >/dev/null 2>&1 || return 1
  if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
  else
    log "a Docker daemon answers but neither 'docker compose' nor 'docker-compose' is installed"
    return 1
  fi
}

url_matches_compose() {
  [[ "$PG_PORT" == "$COMPOSE_PORT" && "$PG_USER" == "$COMPOSE_USER" \
    && "$PG_PASSWORD" == "$COMPOSE_PASSWORD" && "$PG_DB" == "$COMPOSE_DB" ]]
}

up_docker() {
  log "starting $COMPOSE_FILE with ${COMPOSE[*]}"
  "${COMPOSE[@]}" -f "$COMPOSE_FILE" up -d --wait >&2 9>&-
  write_state mode=docker
  if ! wait_for_login 60; then
    die "container started but login with $SAFE_URL does not work (see: ${COMPOSE[*]} -f $COMPOSE_FILE logs)"
  fi
  log "PostgreSQL (docker) is up at $SAFE_URL"
}

# ---------------------------------------------------------------------------
# Local throwaway cluster

sql_literal() { printf "'%s'" "${1//\'/\'\'}"; }
sql_ident() { printf '"%s"' "${1//\"/\"\"}"; }

show_log_tail() {
  local logfile="$1"
  if [[ -f "$logfile" ]]; then
    log "last lines of $logfile:"
    tail -n 40 "$logfile" >&2 || true
  fi
}

# Refuse to wipe anything that does not look like a cluster created by this script.
safe_to_wipe() {
  local dir="$1"
  [[ -n "$dir" && "$dir" != / ]] || return 1
  [[ -d "$dir" ]] || return 0
  [[ -f "$dir/$MARKER" || -f "$dir/PG_VERSION" ]] && return 0
  [[ -z "$(ls -A "$dir")" ]]
}

# Stop whatever may still run on DIR (ignoring errors) and delete it.
stop_and_wipe() {
  local dir="$1" bindir="$2" mode="$3"
  [[ -e "$dir" ]] || return 0
  safe_to_wipe "$dir" || die "$dir exists and does not look like a test cluster created by this script; refusing to delete it"
  if [[ -n "$bindir" && -x "$bindir/pg_ctl" && -f "$dir/PG_VERSION" ]]; then
    as_pg "$bindir/pg_ctl" -D "$dir" -w -t 30 stop -m "$mode" >/dev/null 2>&1 || true
  fi
  rm -rf -- "$dir"
}

up_local() {
  local bindir
  bindir="$(find_server_bindir)" || {
    install_postgresql
    bindir="$(find_server_bindir)" || die "PostgreSQL server binaries (initdb, pg_ctl) still not found after installing"
  }
  log "using PostgreSQL server binaries in $bindir ($("$bindir/postgres" --version 2>/dev/null || echo 'unknown version'))"

  # psql may only have arrived with the installation above: re-check before claiming the port.
  if db_answers; then
    log "PostgreSQL already answers at $SAFE_URL; using it as is"
    return 0
  fi
  if port_open; then
    die "something already listens on $PG_HOST:$PG_PORT but login with $SAFE_URL fails; stop it or set BODHI_TEST_PG_URL"
  fi
  [[ -n "$PG_PASSWORD" ]] || die "BODHI_TEST_PG_URL must contain a password for a local cluster (TCP uses scram-sha-256)"

  choose_run_as

  # Clean up after a previous (possibly crashed) run: the cluster recorded in the state
  # file, and whatever is in the data dir.
  if read_state && [[ "$STATE_MODE" == local && -n "$STATE_DATA_DIR" && "$STATE_DATA_DIR" != "$DATA_DIR" ]]; then
    log "removing stale cluster from a previous run in $STATE_DATA_DIR"
    stop_and_wipe "$STATE_DATA_DIR" "${STATE_BIN_DIR:-$bindir}" immediate
  fi
  if [[ -e "$DATA_DIR" ]]; then
    log "removing stale data dir $DATA_DIR from a previous run"
    stop_and_wipe "$DATA_DIR" "$bindir" immediate
  fi

  mkdir -p "$DATA_DIR"
  chmod 700 "$DATA_DIR"
  if [[ -n "$RUN_AS" ]]; then
    chown "$RUN_AS:" "$DATA_DIR"
    as_pg test -w "$DATA_DIR" \
      || die "user '$RUN_AS' cannot write to $DATA_DIR (is a parent directory inaccessible?); set BODHI_TEST_PG_DIR elsewhere"
  fi
  # From here on `down` can clean up, even if something below fails.
  write_state mode=local "data_dir=$DATA_DIR" "bin_dir=$bindir" "run_as=$RUN_AS"

  local logfile="$DATA_DIR/server.log"
  log "initialising throwaway cluster in $DATA_DIR (port $PG_PORT)"
  if ! as_pg "$bindir/initdb" -D "$DATA_DIR" -U postgres -E UTF8 --locale=C --no-sync \
    --auth-local=trust --auth-host=scram-sha-256 >"$STATE_DIR/bodhi-test-pg-$PG_PORT.initdb.log" 2>&1; then
    tail -n 40 "$STATE_DIR/bodhi-test-pg-$PG_PORT.initdb.log" >&2 || true
    die "initdb failed"
  fi
  rm -f "$STATE_DIR/bodhi-test-pg-$PG_PORT.initdb.log"
  as_pg touch "$DATA_DIR/$MARKER"

  # Settings go into postgresql.conf (rather than `pg_ctl -o`) so that they survive restarts.
  as_pg tee -a "$DATA_DIR/postgresql.conf" >/dev/null <<EOF

# --- added by scripts/test-deps.sh (throwaway test cluster) ---
port = $PG_PORT
listen_addresses = 'localhost'
unix_socket_directories = '${DATA_DIR//\'/\'\'}'
max_connections = 300
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

  log "starting PostgreSQL (log: $logfile)"
  if ! as_pg "$bindir/pg_ctl" -D "$DATA_DIR" -w -t 60 -l "$logfile" start >/dev/null 2>&1; then
    show_log_tail "$logfile"
    die "PostgreSQL failed to start; run '$0 down' to clean up"
  fi

  local sql
  if [[ "$PG_USER" == postgres ]]; then
    sql="ALTER ROLE postgres PASSWORD $(sql_literal "$PG_PASSWORD");"
  else
    sql="CREATE ROLE $(sql_ident "$PG_USER") LOGIN CREATEDB PASSWORD $(sql_literal "$PG_PASSWORD");"
  fi
  if [[ "$PG_DB" != postgres ]]; then
    sql+=$'\n'"CREATE DATABASE $(sql_ident "$PG_DB") OWNER $(sql_ident "$PG_USER");"
  fi
  # SQL (with the password) goes through stdin, so it never shows up in ps or in logs.
  if ! as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$DATA_DIR" -p "$PG_PORT" -U postgres -d postgres \
    >/dev/null <<<"$sql"; then
    show_log_tail "$logfile"
    die "could not create role/database; run '$0 down' to clean up"
  fi

  if ! wait_for_login 60; then
    show_log_tail "$logfile"
    die "PostgreSQL started but login with $SAFE_URL does not work; run '$0 down' to clean up"
  fi
  log "PostgreSQL (local, $bindir) is up at $SAFE_URL"
}

# ---------------------------------------------------------------------------
# Commands

cmd_up() {
  if db_answers; then
    log "PostgreSQL already answers at $SAFE_URL; using it as is"
    return 0
  fi
  is_local_host || die "PostgreSQL does not answer at $SAFE_URL and only localhost/127.0.0.1 can be started here"

  if docker_available; then
    if url_matches_compose; then
      if port_open; then
        die "something already listens on $PG_HOST:$PG_PORT but login with $SAFE_URL fails; stop it or set BODHI_TEST_PG_URL"
      fi
      up_docker
      return 0
    fi
    log "Docker is available but $SAFE_URL does not match $COMPOSE_FILE; starting a local cluster instead"
  else
    log "no Docker daemon answers; starting a throwaway local PostgreSQL cluster"
  fi
  up_local
}

cmd_down() {
  if ! read_state; then
    log "no state file ($STATE_FILE): nothing was started by this script, nothing to stop"
    return 0
  fi
  case "$STATE_MODE" in
    docker)
      docker_available || die "state says docker, but no Docker daemon / compose answers"
      log "stopping $COMPOSE_FILE"
      "${COMPOSE[@]}" -f "$COMPOSE_FILE" down -v >&2 9>&-
      ;;
    local)
      [[ -n "$STATE_DATA_DIR" ]] || die "state file $STATE_FILE has no data_dir"
      RUN_AS="$STATE_PG_USER"
      if [[ -n "$RUN_AS" ]] && ! id -u "$RUN_AS" >/dev/null 2>&1; then RUN_AS=''; fi
      log "stopping local PostgreSQL cluster in $STATE_DATA_DIR"
      stop_and_wipe "$STATE_DATA_DIR" "$STATE_BIN_DIR" fast
      ;;
    *)
      die "unknown mode '$STATE_MODE' in $STATE_FILE"
      ;;
  esac
  rm -f -- "$STATE_FILE"
  log "stopped"
}

# pause/resume stop and restart the server this script started, keeping its data: what an
# outage test needs (the database goes away mid-run and comes back).
cmd_pause() { pause_or_resume stop; }
cmd_resume() { pause_or_resume start; }

pause_or_resume() {
  local action="$1"
  read_state || die "nothing was started by this script for $SAFE_URL; cannot $action it"
  case "$STATE_MODE" in
    docker)
      docker_available || die "state says docker, but no Docker daemon / compose answers"
      "${COMPOSE[@]}" -f "$COMPOSE_FILE" "$action" >&2 9>&-
      ;;
    local)
      RUN_AS="$STATE_PG_USER"
      if [[ -n "$RUN_AS" ]] && ! id -u "$RUN_AS" >/dev/null 2>&1; then RUN_AS=''; fi
      if [[ "$action" == stop ]]; then
        as_pg "$STATE_BIN_DIR/pg_ctl" -D "$STATE_DATA_DIR" -w -t 30 stop -m fast >/dev/null
      else
        as_pg "$STATE_BIN_DIR/pg_ctl" -D "$STATE_DATA_DIR" -w -t 60 -l "$STATE_DATA_DIR/server.log" start >/dev/null
        wait_for_login 60 || die "PostgreSQL restarted but login with $SAFE_URL does not work"
      fi
      ;;
    *) die "unknown mode '$STATE_MODE' in $STATE_FILE" ;;
  esac
  log "PostgreSQL at $SAFE_URL: $action done"
}

cmd_status() {
  local started=''
  if read_state; then
    started=" (started by this script: $STATE_MODE${STATE_DATA_DIR:+, $STATE_DATA_DIR})"
  fi
  if db_answers; then
    log "PostgreSQL answers at $SAFE_URL$started"
    return 0
  fi
  log "PostgreSQL does NOT answer at $SAFE_URL$started"
  return 1
}

[[ $# -eq 1 ]] || usage
case "$1" in
  up | down | pause | resume) ;;
  status)
    cmd_status
    exit
    ;;
  *) usage ;;
esac

# Serialise concurrent up/down calls for the same port.
if command -v flock >/dev/null 2>&1 && { exec 9>>"$LOCK_FILE"; } 2>/dev/null; then
  flock -w 180 9 || die "timed out waiting for lock $LOCK_FILE"
fi
"cmd_$1"
