#!/usr/bin/env bash
# make demo: Telegraf v1.37.2 runs the plugin under inputs.execd, the replay
# tool sends a sample day of Qlik Sense session traffic over loopback UDP, and
# we show what Telegraf emits. Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

export QSS_BIN="$PWD/bin"
export QSS_DEMO="$PWD/examples/demo"
export QSS_DEMO_PORT="${QSS_DEMO_PORT:-19997}"
work="$(mktemp -d)"
out="$work/telegraf.out"
log="$work/telegraf.log"
tg_pid=""
cleanup() {
  if [ -n "$tg_pid" ] && kill -0 "$tg_pid" 2>/dev/null; then
    kill -TERM "$tg_pid" 2>/dev/null || true
    wait "$tg_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting Telegraf with the plugin under inputs.execd (UDP port $QSS_DEMO_PORT)"
"$QSS_BIN/telegraf" --config "$QSS_DEMO/telegraf.conf" >"$out" 2>"$log" &
tg_pid=$!
for _ in $(seq 1 300); do
  grep -q "Listening for log4net datagrams" "$log" 2>/dev/null && break
  kill -0 "$tg_pid" 2>/dev/null || { cat "$log"; echo "telegraf exited early" >&2; exit 1; }
  sleep 0.1
done
grep -q "Listening for log4net datagrams" "$log" || { cat "$log"; echo "the plugin did not start" >&2; exit 1; }
sed 's/^/  telegraf: /' "$log"

step "Replaying a sample day (testdata/sample-day.txt) at 3000 events/s"
"$QSS_BIN/qliksense_replay" -addr "127.0.0.1:$QSS_DEMO_PORT" -file testdata/sample-day.txt -rate 3000 -expect "$work/expected.json"

step "What the replay tool expects (full list in the JSON it wrote)"
sed -n 's/^{"events_sent":\([0-9]*\),"active_users":\([0-9]*\),"active_sessions":\([0-9]*\).*/site: \2 active users, \3 sessions after \1 events/p' "$work/expected.json"
grep -o '"server":"[^"]*","active_users":[0-9]*,"active_sessions":[0-9]*' "$work/expected.json" | sed 's/"server":"\([^"]*\)","active_users":\([0-9]*\),"active_sessions":\([0-9]*\)/\1: \2 active users, \3 sessions/'

# Wait until the last site summary shows the expected count.
want_users=$(sed -n 's/^{"events_sent":[0-9]*,"active_users":\([0-9]*\).*/\1/p' "$work/expected.json")
for _ in $(seq 1 100); do
  last=$(grep '^qliksense_users ' "$out" | tail -1 || true)
  case "$last" in *"active_users=${want_users}i"*) break ;; esac
  sleep 0.2
done
sleep 5 # one more gather, so the intake counters are complete

# Long lines (the users lists) are cut to the screen.
show() { cut -c1-220; }

step "A few of the qliksense_session_event metrics"
grep '^qliksense_session_event' "$out" | head -5 | show || true

step "The last summaries (site, then per server)"
grep '^qliksense_users ' "$out" | tail -1 | show
last_ts=$(grep '^qliksense_users ' "$out" | tail -1 | awk '{print $NF}')
grep "^qliksense_users_server" "$out" | grep " ${last_ts}\$" | show || true

step "Intake counters"
grep '^qliksense_sessions_internal' "$out" | tail -1 | tr ',' '\n' | sed 's/^/  /'

printf '\nMetric lines emitted: %s (of which %s events, %s site summaries)\n' \
  "$(wc -l <"$out")" "$(grep -c '^qliksense_session_event' "$out")" "$(grep -c '^qliksense_users ' "$out")"

last=$(grep '^qliksense_users ' "$out" | tail -1)
case "$last" in
  *"active_users=${want_users}i"*) echo "OK: Telegraf's last summary shows the ${want_users} active users the replay expected." ;;
  *) echo "MISMATCH: expected ${want_users} active users, last summary: $(echo "$last" | show)" >&2; exit 1 ;;
esac

step "Stopping Telegraf"
kill -TERM "$tg_pid"
wait "$tg_pid" || true
tg_pid=""
echo "done"
