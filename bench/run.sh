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
  *)
    cargo bench --locked --bench load 2>/dev/null | tee bench/last-run.md
    ;;
esac
