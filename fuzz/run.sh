#!/usr/bin/env bash
# Runs each fuzz target in turn for DURATION seconds (all five unless some are named), then
# prints each one's executions per second and crashes. Stops at the first crash, non-zero.
# Not part of CI: it needs nightly and cargo-fuzz, and time (`cargo install cargo-fuzz`).
#
#   fuzz/run.sh 600                     # ten minutes each
#   fuzz/run.sh 60 dotenv serve_request
set -euo pipefail
cd "$(dirname "$0")"

duration=${1:?usage: fuzz/run.sh DURATION [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(config exports dotenv serve_request mcp_message)
fi
# Two targets may run side by side on the 24 GiB machine, next to a build.
rss_limit_mb=${FUZZ_RSS_LIMIT_MB:-4096}
# An input that takes this long is a hang, and a bug like a crash.
timeout_s=${FUZZ_TIMEOUT_S:-30}

cargo +nightly fuzz build

summary=()
status=0
for target in "${targets[@]}"; do
  mkdir -p "artifacts/$target" "corpus/$target"
  before=$(find "artifacts/$target" -type f | wc -l)
  log="artifacts/$target.log"
  echo "== $target: ${duration}s" >&2
  started=$(date +%s)
  if cargo +nightly fuzz run "$target" -- \
    -max_total_time="$duration" -rss_limit_mb="$rss_limit_mb" -timeout="$timeout_s" \
    -print_final_stats=1 >"$log" 2>&1; then
    code=0
  else
    code=$?
  fi
  elapsed=$(($(date +%s) - started))
  crashes=$(($(find "artifacts/$target" -type f | wc -l) - before))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  line=$(printf '%-14s %8ss %12s execs %8s exec/s %3s crashes' \
    "$target" "$elapsed" "${execs:-?}" "${rate:-?}" "$crashes")
  summary+=("$line")
  echo "$line" >&2
  if [ "$code" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    echo "$target failed (exit $code); log: fuzz/$log, inputs: fuzz/artifacts/$target/" >&2
    grep -m 5 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" >&2 || true
    status=1
    break
  fi
done

printf '%s\n' "${summary[@]}"
exit "$status"
