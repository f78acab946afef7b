#!/usr/bin/env bash
# Builds the release binary and runs the load benchmark (benches/load.rs) against it, in sandbox
# mode on loopback. Prints a Markdown table and keeps a copy in bench/last-run.md.
#   BENCH_SECONDS=10 bench/run.sh    # longer load levels (default 5 s each)
#   bench/run.sh --topology          # through nginx, two instances, Postgres and Redis
#                                    # (deploy/local.sh up; needs postgresql, redis-server, nginx)
set -euo pipefail
cd "$(dirname "$0")/.."
# 1,000 concurrent sessions need a few thousand sockets in the app (clients, upstream calls and
# the mounted sandbox's side of them).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "${1:-}" = "--topology" ]; then
  export BENCH_TOPOLOGY=1
  cargo bench --locked --bench load 2>/dev/null | tee bench/last-run-topology.md
else
  cargo bench --locked --bench load 2>/dev/null | tee bench/last-run.md
fi
