#!/usr/bin/env bash
# Instructions per install flow and per page, counted by callgrind: repeatable within about 2%
# on a machine whose wall-clock figures swing by 30% from run to run (bench/run.sh's). The
# release binary (or BINARY) runs in sandbox mode under valgrind; bench/drive.py (Python 3 with
# requests) runs FLOWS install flows, then PAGES destination and PAGES Monitor pages, as a
# browser. Three runs give the marginal costs: (60, 100) − (20, 100) over 40 flows, and
# (20, 400) − (20, 100) over 300 destination + Monitor pairs; the median of ROUNDS rounds is
# printed, with the lowest and highest.
#   bench/instructions.sh                 # target/release/segment-partnerapp
#   bench/instructions.sh path/to/binary  # an earlier build, to compare
# Needs valgrind (Debian's package) and python3 with requests.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/segment-partnerapp}
[ -x "$bin" ] || cargo build --release --locked --bin segment-partnerapp 2>/dev/null
bin=$(realpath "$bin")
drive=$(realpath bench/drive.py)
run() {
  local flows=$1 pages=$2 dir port pid total
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  (cd "$dir" && exec env -i PATH="$PATH" HOME="$HOME" PORT="$port" HOST=127.0.0.1 \
    REDIRECT_URL="http://127.0.0.1:$port/auth/segment/callback" DATABASE_URL="sqlite://$dir/app.db" \
    SESSION_KEY=3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90 \
    METRICS_ADDR=off RUST_LOG=warn SIGNUPS_TOTAL=100000 SIGNUPS_PER_ADDRESS=100000 \
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$bin" >"$dir/log" 2>&1) &
  pid=$!
  for _ in $(seq 600); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    sleep 0.2
  done
  python3 "$drive" "http://127.0.0.1:$port" "$flows" "$pages" >/dev/null
  kill -INT "$pid"
  wait "$pid" || true
  total=$(sed -n 's/^summary: //p' "$dir/cg.out")
  rm -rf "$dir"
  echo "$total"
}
# Each round gives both marginal costs; ROUNDS rounds (3) give the median and the spread (a
# flow's figure moves by up to a fifth from round to round, a page's by about 2%).
flow_costs=() page_costs=()
for _ in $(seq "${ROUNDS:-3}"); do
  base=$(run 20 100)
  flows=$(run 60 100)
  pages=$(run 20 400)
  flow_costs+=($(( (flows - base) / 40 )))
  page_costs+=($(( (pages - base) / 300 )))
done
summary() { # median (lowest–highest) of the numbers given
  sort -n <<<"$(printf '%s\n' "$@")" | awk '{v[NR]=$1} END {printf "%d (%d–%d)\n", v[int((NR+1)/2)], v[1], v[NR]}'
}
echo "binary: $bin"
echo "instructions per install flow: $(summary "${flow_costs[@]}")"
echo "instructions per destination + Monitor page pair: $(summary "${page_costs[@]}")"
