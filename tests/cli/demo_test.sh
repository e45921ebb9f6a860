#!/usr/bin/env bash
# `mmsb demo` as `make demo` runs it (the README's first command), in a fresh directory: it
# exits 0, every check it prints holds (roots match, the snapshot is unchanged after the
# merge, replays agree, every packet has an outcome), 1 and 4 rule workers give one root,
# and the ingest table's counts are those of its ruleset, with a rate for the admitted topic.
set -euo pipefail
mmsb="$1"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
"$mmsb" demo --dir "$dir/data" >"$dir/out.txt" 2>&1 || { cat "$dir/out.txt"; exit 1; }
out="$dir/out.txt"
fail() { echo "demo_test: $1"; cat "$out"; exit 1; }
[ "$(grep -c '^  roots match  *yes$' "$out")" = 2 ] || fail "a 'roots match' line is not yes"
grep -q '^  snapshot unchanged after merge  *yes$' "$out" || fail "the snapshot changed"
grep -q '^  root after replay  *matches$' "$out" || fail "the ingest replay's root differs"
grep -q '^  every packet has an outcome  *yes$' "$out" || fail "a packet has no outcome"
grep -q 'every receipt and write equal to the log' "$out" || fail "rules replay differs"
one="$(sed -n 's/^  root with 1 worker  *\([0-9a-f]*\)$/\1/p' "$out")"
four="$(sed -n 's/^  root with 4 workers  *\([0-9a-f]*\)$/\1/p' "$out")"
[ -n "$one" ] && [ "$one" = "$four" ] || fail "1 and 4 workers: roots '$one' and '$four'"
# topic admitted denied throttled refused admitted/s
read -r _ admitted denied throttled _ rate < <(grep -E '^  1 +[0-9]' "$out")
[ "$admitted" -gt 0 ] && [ "$denied" = 0 ] && [ "$throttled" = 0 ] && [ "$rate" -gt 0 ] ||
  fail "topic 1 (admitted): $admitted admitted, $denied denied, $throttled throttled, $rate/s"
read -r _ admitted denied _ < <(grep -E '^  2 +[0-9]' "$out")
[ "$admitted" = 0 ] && [ "$denied" -gt 0 ] || fail "topic 2 (denied): $admitted admitted, $denied denied"
read -r _ admitted _ throttled _ < <(grep -E '^  3 +[0-9]' "$out")
[ "$admitted" -gt 0 ] && [ "$throttled" -gt 0 ] ||
  fail "topic 3 (throttled): $admitted admitted, $throttled throttled"
echo "demo_test: ok"
