#!/usr/bin/env bash
# Builds the release binary and runs the load benchmark (benches/load.rs) against it, in sandbox
# mode on loopback. Prints a Markdown table and keeps a copy in bench/last-run*.md.
#   BENCH_SECONDS=10 bench/run.sh    # longer load levels (default 5 s each)
#   bench/run.sh --topology          # through nginx, two instances, Postgres and Redis
#                                    # (deploy/local.sh up; needs postgresql, redis-server, nginx)
#   bench/run.sh --flows             # app CPU per install flow (issue 15): embedded, then on
#                                    # Postgres + Redis (deploy/local.sh services) when installed;
#                                    # BENCH_NODE_APP=<dir> adds Segment's Node partnerapp
#                                    # (prepared as BENCHMARKS.md says); BENCH_BASE_BIN=<binary>
#                                    # adds an earlier build; BENCH_FLOWS (1000); and the
#                                    # floor under it all (examples/flow_floor.rs); each
#                                    # set-up twice, in both orders (about 12 min with all)
#   bench/run.sh --conform           # the conformance kit (segment-sandbox conform), every
#                                    # scenario against this app (release build, SQLite), then
#                                    # against the Python partner app; three runs each, wall clock
set -euo pipefail
cd "$(dirname "$0")/.."
# 1,000 concurrent sessions need a few thousand sockets in the app (clients, upstream calls and
# the mounted sandbox's side of them).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
case "${1:-}" in
  --topology)
    export BENCH_TOPOLOGY=1
    cargo bench --locked --bench load 2>/dev/null | tee bench/last-run-topology.md
    ;;
  --flows)
    export BENCH_ONLY=flows BENCH_FLOWS=${BENCH_FLOWS:-1000}
    if command -v redis-server >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
      export DEPLOY_DIR
      DEPLOY_DIR=$(mktemp -d /tmp/partnerapp-bench-flows.XXXXXX)
            trap 'deploy/local.sh down >/dev/null 2>&1 || true; rm -rf "$DEPLOY_DIR"' EXIT
      PG_PORT=55441 REDIS_PORT=56391 deploy/local.sh services
      BENCH_DATABASE_URL=$(sed -n 's/^DATABASE_URL=//p' "$DEPLOY_DIR/services.env")
      BENCH_REDIS_URL=$(sed -n 's/^REDIS_URL=//p' "$DEPLOY_DIR/services.env")
      export BENCH_DATABASE_URL BENCH_REDIS_URL
    fi
    # The floor under the measure (examples/flow_floor.rs): the same exchanges, no store.
    cargo build --release --locked --example flow_floor 2>/dev/null
    export BENCH_FLOOR_BIN=$PWD/target/release/examples/flow_floor
    # Errors (a flow that failed) stay on the terminal.
    cargo bench --locked --bench load | tee bench/last-run-flows.md
    ;;
  --conform)
    cargo build --release --locked --bin segment-partnerapp --bin segment-sandbox 2>/dev/null
    scratch=$(mktemp -d /tmp/partnerapp-bench-conform.XXXXXX)
    trap 'rm -rf "$scratch"' EXIT
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    app="PORT=$port DATABASE_URL=sqlite://$scratch/conform.db DESTINATION_API_KEY=bench-key"
    app="$app SESSION_KEY=$(head -c 32 /dev/urandom | base64) RUST_LOG=warn"
    python="PORT=$port exec python3 crates/segment-sandbox/tests/conform/partner_app.py"
    {
    echo "| app | run | wall clock (s) | result |"
    echo "|---|---|---|---|"
    for which in this python; do
      for run in 1 2 3; do
        rm -f "$scratch"/conform.db*
        if [ "$which" = this ]; then
          exec_cmd="$app exec target/release/segment-partnerapp"; start=auth/segment; probe=destination
        else
          exec_cmd="$python"; start=start; probe=probe
        fi
        began=$(date +%s%N)
        result=$(target/release/segment-sandbox conform --exec "$exec_cmd" \
          --start "http://127.0.0.1:$port/$start" --probe "http://127.0.0.1:$port/$probe" 2>/dev/null | tail -1)
        ms=$((($(date +%s%N) - began) / 1000000))
        printf '| %s | %s | %d.%03d | %s |\n' "$which" "$run" $((ms / 1000)) $((ms % 1000)) "$result"
      done
    done
    } | tee bench/last-run-conform.md
    ;;
  *)
    cargo bench --locked --bench load 2>/dev/null | tee bench/last-run.md
    ;;
esac
