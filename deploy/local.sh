#!/usr/bin/env bash
# The production topology on one machine, on loopback ports: Postgres, Redis, two app instances
# and nginx in front of them, from Debian's packages (postgresql, redis-server, nginx-light).
# CI and tests/topology.rs run exactly this script and deploy/nginx.conf, so they cannot rot.
#
#   deploy/local.sh up            everything below, in order; prints where to browse
#   deploy/local.sh services      Postgres and Redis only; writes $DEPLOY_DIR/services.env
#   deploy/local.sh sandbox       the standalone sandbox, as "Segment" (when CLIENT_ID is unset)
#   deploy/local.sh app N         app instance N (1 or 2) on APP<N>_PORT
#   deploy/local.sh nginx         nginx on NGINX_PORT, round robin over both instances
#   deploy/local.sh stop NAME     stops postgres, redis, sandbox, app1, app2 or nginx
#   deploy/local.sh down          stops everything
#
# Every setting is an environment variable with a default (below). The apps get the usual app
# settings (DATABASE_URL, REDIS_URL, SESSION_KEY, CLIENT_ID, …) from the environment when set,
# else from what this script started. Run as root (CI), Postgres runs as the postgres user.
#
# DEPLOY_DIR holds the passwords and the session key: the script makes it private (0700; 0711
# as root, so that Postgres, running as its own user, can reach its cluster inside) and writes
# every file readable by its owner only. It refuses a DEPLOY_DIR that someone else owns or can
# write to (its default is a fixed name in the temp folder, which anyone could make first),
# and reads services.env as data: only DATABASE_URL and REDIS_URL, never a line as a command.
set -euo pipefail
umask 077

here=$(cd "$(dirname "$0")" && pwd)
DEPLOY_DIR=${DEPLOY_DIR:-/tmp/partnerapp-deploy}
APP_BIN=${APP_BIN:-$here/../target/release/segment-partnerapp}
PG_PORT=${PG_PORT:-55432}
REDIS_PORT=${REDIS_PORT:-56379}
SANDBOX_PORT=${SANDBOX_PORT:-18090}
APP1_PORT=${APP1_PORT:-18081}
APP2_PORT=${APP2_PORT:-18082}
# Each instance's /metrics, on loopback (never through nginx).
APP1_METRICS_PORT=${APP1_METRICS_PORT:-9465}
APP2_METRICS_PORT=${APP2_METRICS_PORT:-9466}
NGINX_PORT=${NGINX_PORT:-18080}
if [ ! -e "$DEPLOY_DIR" ]; then
  mkdir -m 700 "$DEPLOY_DIR"
fi
[ -d "$DEPLOY_DIR" ] && [ ! -L "$DEPLOY_DIR" ] || {
  printf 'deploy: %s is not a folder of its own\n' "$DEPLOY_DIR" >&2
  exit 1
}
[ -O "$DEPLOY_DIR" ] || {
  printf 'deploy: %s belongs to someone else: set DEPLOY_DIR to a folder of yours\n' \
    "$DEPLOY_DIR" >&2
  exit 1
}
case "$(stat -c %A "$DEPLOY_DIR")" in
  ?????w???? | ????????w?)
    printf 'deploy: others can write to %s: chmod 700 it, or set DEPLOY_DIR elsewhere\n' \
      "$DEPLOY_DIR" >&2
    exit 1
    ;;
esac
# Private; as root, others may pass through (not list or read) so that the postgres user
# reaches its cluster.
if [ "$(id -u)" = 0 ]; then chmod 711 "$DEPLOY_DIR"; else chmod 700 "$DEPLOY_DIR"; fi
DEPLOY_DIR=$(cd "$DEPLOY_DIR" && pwd)

say() { printf 'deploy: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }
need() { command -v "$1" >/dev/null || fail "$1 is missing: apt-get install -y $2"; }
secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# Waits (at most 10 s) until `$@` succeeds.
wait_for() {
  local what=$1; shift
  for _ in $(seq 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "$what did not come up in 10 s (logs in $DEPLOY_DIR)"
}

# Runs a Postgres tool as the postgres user, from a folder that user can read (it cannot
# change into the caller's, such as a checkout under /root: "could not change directory").
as_postgres() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

start_postgres() {
  local bin data=$DEPLOY_DIR/postgres
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$bin" ] || fail "Postgres is missing: apt-get install -y postgresql"
  if [ ! -s "$DEPLOY_DIR/postgres.password" ]; then
    secret >"$DEPLOY_DIR/postgres.password"
  fi
  if [ ! -d "$data" ]; then
    # A throw-away cluster of its own, never the system's: local (socket) logins are trusted,
    # TCP logins need a password.
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres: "$data"
    as_postgres "$bin/initdb" -D "$data" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 >"$DEPLOY_DIR/postgres-init.log"
  fi
  as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $data -c fsync=off" start >/dev/null
  local password
  password=$(cat "$DEPLOY_DIR/postgres.password")
  # The app's own role, allowed to create databases (the tests make one each).
  as_postgres "$bin/psql" -h "$data" -p "$PG_PORT" -U postgres -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'partnerapp') THEN
    CREATE ROLE partnerapp LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE partnerapp PASSWORD '$password';
SELECT 'CREATE DATABASE partnerapp OWNER partnerapp'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'partnerapp') \gexec
SQL
  say "Postgres on 127.0.0.1:$PG_PORT (database partnerapp, user partnerapp)"
}

start_redis() {
  need redis-server redis-server
  if [ ! -s "$DEPLOY_DIR/redis.password" ]; then
    secret >"$DEPLOY_DIR/redis.password"
  fi
  mkdir -p "$DEPLOY_DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
    --dir "$DEPLOY_DIR/redis" --pidfile "$DEPLOY_DIR/redis.pid" \
    --logfile "$DEPLOY_DIR/redis.log" --save '' --appendonly no \
    --requirepass "$(cat "$DEPLOY_DIR/redis.password")"
  wait_for Redis redis-cli -p "$REDIS_PORT" -a "$(cat "$DEPLOY_DIR/redis.password")" \
    --no-auth-warning ping
  say "Redis on 127.0.0.1:$REDIS_PORT"
}

write_services_env() {
  cat >"$DEPLOY_DIR/services.env" <<EOF
DATABASE_URL=postgres://partnerapp:$(cat "$DEPLOY_DIR/postgres.password")@127.0.0.1:$PG_PORT/partnerapp
REDIS_URL=redis://:$(cat "$DEPLOY_DIR/redis.password")@127.0.0.1:$REDIS_PORT/0
EOF
  say "wrote $DEPLOY_DIR/services.env (DATABASE_URL, REDIS_URL)"
}

# The value of NAME in services.env, read as data (nothing in the file is run or exported).
service_setting() {
  sed -n "s/^$1=//p" "$DEPLOY_DIR/services.env" | head -n 1
}

# The settings every instance shares: from the environment, else from what was started here.
app_env() {
  if [ -f "$DEPLOY_DIR/services.env" ]; then
    [ -n "${DATABASE_URL:-}" ] || DATABASE_URL=$(service_setting DATABASE_URL)
    [ -n "${REDIS_URL:-}" ] || REDIS_URL=$(service_setting REDIS_URL)
    export DATABASE_URL
    [ -z "$REDIS_URL" ] || export REDIS_URL
  fi
  [ -n "${DATABASE_URL:-}" ] || fail "DATABASE_URL is not set: run '$0 services' first"
  if [ -z "${SESSION_KEY:-}" ]; then
    [ -s "$DEPLOY_DIR/session.key" ] || head -c 32 /dev/urandom | base64 >"$DEPLOY_DIR/session.key"
    SESSION_KEY=$(cat "$DEPLOY_DIR/session.key")
  fi
  export SESSION_KEY
  if [ -z "${CLIENT_ID:-}" ]; then
    # No Segment credentials: the standalone sandbox plays Segment for both instances.
    export CLIENT_ID=sandbox-partner-app CLIENT_SECRET=sandbox-client-secret
    export SEGMENT_ID_URL=http://127.0.0.1:$SANDBOX_PORT SEGMENT_API_URL=http://127.0.0.1:$SANDBOX_PORT
  fi
  export REDIRECT_URL=${REDIRECT_URL:-http://localhost:$NGINX_PORT/auth/segment/callback}
  # nginx connects from loopback: the only peer whose X-Forwarded-* headers are believed.
  export TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1}
}

start_sandbox() {
  [ -x "$APP_BIN" ] || fail "$APP_BIN is missing: cargo build --release (or set APP_BIN)"
  export REDIRECT_URL=${REDIRECT_URL:-http://localhost:$NGINX_PORT/auth/segment/callback}
  nohup "$APP_BIN" sandbox --host 127.0.0.1 --port "$SANDBOX_PORT" \
    --redirect-url "$REDIRECT_URL" \
    --credential-test-url "http://127.0.0.1:$NGINX_PORT/api/v1/me" \
    >"$DEPLOY_DIR/sandbox.log" 2>&1 &
  echo $! >"$DEPLOY_DIR/sandbox.pid"
  wait_for "the sandbox" curl -fsS "http://127.0.0.1:$SANDBOX_PORT/" -H 'Accept: application/json'
  say "sandbox (Segment) on 127.0.0.1:$SANDBOX_PORT"
}

start_app() {
  local n=$1 port metrics
  case "$n" in
    1) port=$APP1_PORT metrics=$APP1_METRICS_PORT ;;
    2) port=$APP2_PORT metrics=$APP2_METRICS_PORT ;;
    *) fail "app takes 1 or 2" ;;
  esac
  [ -x "$APP_BIN" ] || fail "$APP_BIN is missing: cargo build --release (or set APP_BIN)"
  app_env
  HOST=127.0.0.1 PORT=$port METRICS_ADDR=127.0.0.1:$metrics \
    nohup "$APP_BIN" >>"$DEPLOY_DIR/app$n.log" 2>&1 &
  echo $! >"$DEPLOY_DIR/app$n.pid"
  wait_for "app instance $n" curl -fsS "http://127.0.0.1:$port/readyz"
  say "app instance $n on 127.0.0.1:$port (metrics on 127.0.0.1:$metrics/metrics)"
}

start_nginx() {
  need nginx nginx-light
  local prefix=$DEPLOY_DIR/nginx
  mkdir -p "$prefix/logs"
  # nginx's workers (another user, as root) pass through to its temp folders.
  chmod 711 "$prefix"
  sed -e "s/@NGINX_PORT@/$NGINX_PORT/g" -e "s/@APP1_PORT@/$APP1_PORT/g" \
    -e "s/@APP2_PORT@/$APP2_PORT/g" "$here/nginx.conf" >"$prefix/nginx.conf"
  nginx -p "$prefix" -c "$prefix/nginx.conf" -t -q
  nginx -p "$prefix" -c "$prefix/nginx.conf"
  wait_for nginx curl -fsS "http://127.0.0.1:$NGINX_PORT/healthz"
  say "nginx on 127.0.0.1:$NGINX_PORT -> 127.0.0.1:$APP1_PORT, 127.0.0.1:$APP2_PORT"
}

# Stops the process in $DEPLOY_DIR/NAME.pid and waits (at most 10 s) for it to end.
stop_pid() {
  local file=$DEPLOY_DIR/$1.pid pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

stop() {
  case "$1" in
    postgres)
      local bin
      bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
      if [ -n "$bin" ] && [ -d "$DEPLOY_DIR/postgres" ]; then
        as_postgres "$bin/pg_ctl" -D "$DEPLOY_DIR/postgres" -m fast -w stop >/dev/null 2>&1 || true
      fi
      ;;
    redis) stop_pid redis ;;
    nginx) stop_pid nginx/nginx ;;
    sandbox | app1 | app2) stop_pid "$1" ;;
    *) fail "stop takes postgres, redis, sandbox, app1, app2 or nginx" ;;
  esac
}

case "${1:-}" in
  up)
    start_postgres
    start_redis
    write_services_env
    [ -n "${CLIENT_ID:-}" ] || start_sandbox
    start_app 1
    start_app 2
    start_nginx
    say "open http://localhost:$NGINX_PORT (stop it all with: $0 down)"
    ;;
  services)
    start_postgres
    start_redis
    write_services_env
    ;;
  postgres) start_postgres ;;
  redis) start_redis ;;
  sandbox) start_sandbox ;;
  app) start_app "${2:-}" ;;
  nginx) start_nginx ;;
  stop) stop "${2:-}" ;;
  down)
    for name in nginx app1 app2 sandbox redis postgres; do stop "$name"; done
    ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
