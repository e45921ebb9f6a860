#!/usr/bin/env bash
# `mmsb serve` and `mmsb client` as the README runs them, on one I/O backend ($2): serve a
# fresh directory on a free loopback port, create, put, get, stats, checkpoint, replay,
# subscribe, then SIGTERM and check the clean close and the data after a restart.
set -euo pipefail
mmsb="$1"
io="$2"
dir="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT

start_server() {
  "$mmsb" serve "$dir/data" --listen 127.0.0.1:0 --io "$io" --durability fsync >"$dir/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    if grep -q "listening on" "$dir/serve.log"; then break; fi
    sleep 0.05
  done
  address="$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\) .*/\1/p' "$dir/serve.log")"
  if [ -z "$address" ] && [ "$io" = uring ] && grep -q "Unavailable: io_uring" "$dir/serve.log"; then
    echo "io_uring is not available here: skipped"
    exit 77
  fi
  [ -n "$address" ] || { cat "$dir/serve.log"; exit 1; }
}

start_server
backend="$io"
[ "$io" = uring ] && backend=io_uring
grep -q "listening on .* ($backend," "$dir/serve.log" || { echo "wrong backend:"; cat "$dir/serve.log"; exit 1; }
printf 'hello, server' >"$dir/hello.txt"
page="$("$mmsb" client "$address" create --size 64 "$dir/hello.txt" 2>/dev/null)"
[ "$page" = "1" ] || { echo "create printed '$page'"; exit 1; }
"$mmsb" client "$address" get 1 2>/dev/null | head -c 13 | grep -q "hello, server"
printf 'HELLO' >"$dir/upper.txt"
"$mmsb" client "$address" put 1 "$dir/upper.txt" 2>/dev/null
"$mmsb" client "$address" get 1 2>/dev/null | head -c 13 | grep -q "HELLO, server"
"$mmsb" client "$address" stats | grep -q "^transactions_committed *2"
"$mmsb" client "$address" checkpoint | grep -q "checkpoint at tick 2"
"$mmsb" client "$address" replay --verify | grep -q "replayed to tick 2"
# A subscriber sees the next tick's write to page 1.
"$mmsb" client "$address" subscribe --pages 1 --count 1 --seconds 10 >"$dir/events.txt" &
subscriber=$!
sleep 0.3
printf 'bye' >"$dir/bye.txt"
"$mmsb" client "$address" put 1 "$dir/bye.txt" 2>/dev/null  # changes the bytes: an event
wait "$subscriber"
grep -q "tick 3 APPLIED page 1" "$dir/events.txt" || { cat "$dir/events.txt"; exit 1; }
# Bad input: a page that does not exist is an error with a message, exit 1.
if "$mmsb" client "$address" get 99 2>"$dir/error.txt"; then exit 1; fi
grep -q "NotFound" "$dir/error.txt"

kill -TERM "$server"
wait "$server"
grep -q "SIGTERM: closing" "$dir/serve.log"
grep -q "closed at tick 3" "$dir/serve.log"
start_server
grep -q "at tick 3" "$dir/serve.log"
"$mmsb" client "$address" get 1 2>/dev/null | head -c 13 | grep -q "byeLO, server"
kill -INT "$server"
wait "$server"
echo "serve and client on $io: ok"
