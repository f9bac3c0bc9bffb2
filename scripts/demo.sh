#!/usr/bin/env bash
# make demo: Telegraf v1.37.2 runs the plugin under inputs.execd, the replay
# tool sends a sample day of Qlik Sense session traffic over loopback UDP, and
# we show what Telegraf emits. Stops by itself.
#   QSS_DEMO_PORT       the plugin's UDP port (default: a free one)
#   QSS_DEMO_MQTT_PORT  the first port to try for the MQTT broker (18830)
# No pipefail: `grep | head` closing early is fine here.
set -eu
cd "$(dirname "$0")/.."

export QSS_BIN="$PWD/bin"
export QSS_DEMO="$PWD/examples/demo"
if [ -n "${QSS_DEMO_PORT:-}" ]; then
  port_note="from QSS_DEMO_PORT"
else
  QSS_DEMO_PORT="$("$QSS_BIN/qliksense_replay" -free-port)"
  port_note="a free one; set QSS_DEMO_PORT to choose"
fi
export QSS_DEMO_PORT
work="$(mktemp -d)"
out="$work/telegraf.out"
log="$work/telegraf.log"
tg_pid=""
bg_pids=()
cleanup() {
  for pid in "$tg_pid" "${bg_pids[@]}"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The MQTT leg, when mosquitto is installed: a broker on a free loopback port,
# a subscriber, and the outputs of the shipped examples/telegraf-mqtt-butler.conf
# added to the demo's Telegraf, so that the same traffic also goes to Butler's
# topics.
tg_configs=(--config "$QSS_DEMO/telegraf.conf")
mqtt=""
# Debian installs the broker in /usr/sbin, which a user's PATH may lack.
mosquitto_bin="$(command -v mosquitto || true)"
if [ -z "$mosquitto_bin" ] && [ -x /usr/sbin/mosquitto ]; then mosquitto_bin=/usr/sbin/mosquitto; fi
if [ -n "$mosquitto_bin" ] && command -v mosquitto_sub >/dev/null 2>&1; then
  mqtt_port="${QSS_DEMO_MQTT_PORT:-18830}"
  # The first port from there that nothing listens on.
  while (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null; do mqtt_port=$((mqtt_port + 1)); done
  step "MQTT leg: mosquitto on 127.0.0.1:$mqtt_port, with the outputs of examples/telegraf-mqtt-butler.conf"
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mqtt_port" >"$work/mosquitto.conf"
  "$mosquitto_bin" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
  bg_pids+=($!)
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null && break
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null || { cat "$work/mosquitto.log"; echo "mosquitto did not start" >&2; exit 1; }
  mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -i qss-demo-sub -v -t 'qliksense/#' >"$work/mqtt.txt" 2>&1 &
  bg_pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "as qss-demo-sub" "$work/mosquitto.log" && break
    sleep 0.1
  done
  # The example's outputs as they ship, without its [agent] and [[inputs.execd]]
  # (the demo's own run the plugin).
  sed -n '/^\[\[outputs\.mqtt\]\]/,$p' examples/telegraf-mqtt-butler.conf >"$work/mqtt-outputs.conf"
  export QSS_MQTT_SERVER="127.0.0.1:$mqtt_port"
  tg_configs+=(--config "$work/mqtt-outputs.conf")
  mqtt=yes
else
  lacking=""
  [ -n "$mosquitto_bin" ] || lacking="mosquitto"
  command -v mosquitto_sub >/dev/null 2>&1 || lacking="${lacking:+$lacking and }mosquitto_sub"
  step "MQTT leg left out: $lacking not found"
  echo "  To see Butler's MQTT topics too: apt-get install -y mosquitto mosquitto-clients (as root; or .ci/install-deps), then make demo again."
fi

# Why Telegraf did not start, when the UDP port is the reason.
port_taken() {
  if grep -qi "address already in use" "$log"; then
    echo "UDP port $QSS_DEMO_PORT ($port_note) is taken: run QSS_DEMO_PORT=<a free port> make demo, or leave QSS_DEMO_PORT unset to get a free one" >&2
  fi
}

step "Starting Telegraf with the plugin under inputs.execd (UDP port $QSS_DEMO_PORT, $port_note)"
"$QSS_BIN/telegraf" "${tg_configs[@]}" >"$out" 2>"$log" &
tg_pid=$!
for _ in $(seq 1 300); do
  grep -q "Listening for log4net datagrams" "$log" 2>/dev/null && break
  grep -qi "address already in use" "$log" 2>/dev/null && break
  kill -0 "$tg_pid" 2>/dev/null || { cat "$log"; port_taken; echo "telegraf exited early" >&2; exit 1; }
  sleep 0.1
done
grep -q "Listening for log4net datagrams" "$log" || { cat "$log"; port_taken; echo "the plugin did not start" >&2; exit 1; }
sed 's/^/  telegraf: /' "$log"

step "Replaying a sample day (testdata/sample-day.txt) at 3000 events/s"
"$QSS_BIN/qliksense_replay" -addr "127.0.0.1:$QSS_DEMO_PORT" -file testdata/sample-day.txt -rate 3000 -expect "$work/expected.json"

step "What the replay tool expects (full list in the JSON it wrote)"
sed -n 's/^{"events_sent":\([0-9]*\),"active_users":\([0-9]*\),"active_sessions":\([0-9]*\).*/site: \2 active users, \3 sessions after \1 events/p' "$work/expected.json"
grep -o '"server":"[^"]*","active_users":[0-9]*,"active_sessions":[0-9]*' "$work/expected.json" | sed 's/"server":"\([^"]*\)","active_users":\([0-9]*\),"active_sessions":\([0-9]*\)/\1: \2 active users, \3 sessions/'

# Wait until the last site summary shows the expected count.
want_users=$(sed -n 's/^{"events_sent":[0-9]*,"active_users":\([0-9]*\).*/\1/p' "$work/expected.json")
for _ in $(seq 1 100); do
  last=$(grep '^qliksense_users[ ,]' "$out" | tail -1 || true)
  case "$last" in *"active_users=${want_users}i"*) break ;; esac
  sleep 0.2
done
sleep 5 # one more gather, so the intake counters are complete

# Long lines (the users lists) are cut to the screen.
show() { cut -c1-220; }

step "A few of the qliksense_session_event metrics"
grep '^qliksense_session_event' "$out" | head -5 | show || true

step "The last summaries (site, then per server)"
grep '^qliksense_users[ ,]' "$out" | tail -1 | show
last_ts=$(grep '^qliksense_users[ ,]' "$out" | tail -1 | awk '{print $NF}')
grep "^qliksense_users_server" "$out" | grep " ${last_ts}\$" | show || true

step "Intake counters"
grep '^qliksense_sessions_internal' "$out" | tail -1 | tr ',' '\n' | sed 's/^/  /'

printf '\nMetric lines emitted: %s (of which %s events, %s site summaries)\n' \
  "$(wc -l <"$out")" "$(grep -c '^qliksense_session_event' "$out")" "$(grep -c '^qliksense_users[ ,]' "$out")"

last=$(grep '^qliksense_users[ ,]' "$out" | tail -1)
case "$last" in
  *"active_users=${want_users}i"*) echo "OK: Telegraf's last summary shows the ${want_users} active users the replay expected." ;;
  *) echo "MISMATCH: expected ${want_users} active users, last summary: $(echo "$last" | show)" >&2; exit 1 ;;
esac

if [ -n "$mqtt" ]; then
  step "What a Butler consumer sees on MQTT (the last of each, recorded by mosquitto_sub -v -t 'qliksense/#')"
  grep '^qliksense/users/active/count ' "$work/mqtt.txt" | tail -1
  grep '^qliksense/users/active/usernames ' "$work/mqtt.txt" | tail -1 | show
  # The last count of each server.
  grep '^qliksense/users/activeperserver/' "$work/mqtt.txt" | awk '{last[$1] = $0} END {for (t in last) print last[t]}' | sort
  for topic in session/start session/stop connection/open connection/close; do
    printf '%-27s %5s messages, e.g. %s\n' "qliksense/$topic" "$(grep -c "^qliksense/$topic " "$work/mqtt.txt" || true)" \
      "$(grep -m1 "^qliksense/$topic " "$work/mqtt.txt" | cut -d' ' -f2-)"
  done
  mqtt_count=$(grep '^qliksense/users/active/count ' "$work/mqtt.txt" | tail -1 | cut -d' ' -f2)
  if [ "$mqtt_count" = "$want_users" ]; then
    echo "OK: qliksense/users/active/count says ${want_users}, as expected."
  else
    echo "MISMATCH: qliksense/users/active/count says '${mqtt_count}', expected ${want_users}" >&2
    exit 1
  fi

  # Summaries gathered at an interval are not published (the example
  # publishes changes only, as Butler did): a login shows them.
  step "Live: one more login (LAB\\demo.user on SENSE1), as mosquitto_sub -v -t 'qliksense/#' sees it"
  mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -i qss-demo-live -v -t 'qliksense/#' -W 4 >"$work/live.txt" 2>/dev/null &
  live_pid=$!
  bg_pids+=("$live_pid")
  for _ in $(seq 1 100); do
    grep -q "as qss-demo-live" "$work/mosquitto.log" && break
    sleep 0.1
  done
  printf '%s\n' "/qseow-proxy-session/;SENSE1;Start session;LAB;demo.user;AppAccess;/hub/;Start session for user 'LAB\\demo.user'" >"$work/login.txt"
  "$QSS_BIN/qliksense_replay" -addr "127.0.0.1:$QSS_DEMO_PORT" -file "$work/login.txt" -expect /dev/null 2>/dev/null
  wait "$live_pid" 2>/dev/null || true
  show <"$work/live.txt"
  echo "Against your own broker: mosquitto_sub -h <broker> -v -t 'qliksense/#'"
fi

# --- File source (issue 12): the same plugin reading the proxies' audit
# activity log files instead of UDP. The replay tool writes them as a proxy
# does (one <HOST>_AuditActivity_Proxy.txt per server, rotated to
# ..._<UTC time>Z.log), paced, while a Telegraf of its own reads them; a
# second start, with no state file, rebuilds the open sessions from the
# files alone.
audit="$work/audit"
mkdir -p "$audit"
export QSS_DEMO_AUDIT="$audit"
QSS_DEMO_FILES_PORT="$("$QSS_BIN/qliksense_replay" -free-port)"
export QSS_DEMO_FILES_PORT
# The simulated clock starts three hours ago, two events a second: the rows
# carry the times of a morning's sessions.
clock_start="$(date -u -d '3 hours ago' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v-3H +%Y-%m-%dT%H:%M:%SZ)"
files_pid=""
# start_files_telegraf OUT LOG: Telegraf with examples/demo/telegraf-logfiles.conf,
# until the plugin has read what the files hold.
start_files_telegraf() {
  "$QSS_BIN/telegraf" --config "$QSS_DEMO/telegraf-logfiles.conf" >"$1" 2>"$2" &
  files_pid=$!
  bg_pids+=("$files_pid")
  for _ in $(seq 1 300); do
    grep -q "rows of [0-9]* log files in" "$2" 2>/dev/null && return 0
    kill -0 "$files_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$2"
  echo "the plugin did not read the log files" >&2
  exit 1
}
# has_counts LINE USERS SESSIONS: the summary line shows them.
has_counts() {
  case "$1" in *"active_users=${2}i"*) ;; *) return 1 ;; esac
  case "$1" in *"active_sessions=${3}i"*) ;; *) return 1 ;; esac
}

step "File source: the replay tool writes log files into $audit (10,000 events at 4,000/s, rotated at 512 KB) while a second Telegraf reads them"
"$QSS_BIN/qliksense_replay" -logdir "$audit" -users 300 -servers 2 -events 10000 -rate 4000 -rotate-bytes 512KB \
  -start-time "$clock_start" -clock-rate 2 -expect "$work/expected-files.json" 2>"$work/replay-files.txt" &
replay_pid=$!
bg_pids+=("$replay_pid")
sleep 1 # the proxies wrote before Telegraf started: history to rebuild
start_files_telegraf "$work/files.out" "$work/files.log"
wait "$replay_pid"
sed 's/^/  replay: /' "$work/replay-files.txt"
grep "rows of [0-9]* log files in" "$work/files.log" | sed 's/^.*\] /  telegraf, at its start: /'
ls "$audit" | sed 's/^/  /' | head -6
echo "  ... $(ls "$audit" | wc -l) files"

want_f_users=$(sed -n 's/^{"events_sent":[0-9]*,"active_users":\([0-9]*\).*/\1/p' "$work/expected-files.json")
want_f_sessions=$(sed -n 's/^{"events_sent":[0-9]*,"active_users":[0-9]*,"active_sessions":\([0-9]*\).*/\1/p' "$work/expected-files.json")
rows_written=$(sed -n 's/^wrote \([0-9]*\) events (and \([0-9]*\) rows to ignore).*/\1 \2/p' "$work/replay-files.txt" | awk '{print $1 + $2}')
for _ in $(seq 1 100); do
  last=$(grep '^qliksense_users[ ,]' "$work/files.out" | tail -1 || true)
  has_counts "$last" "$want_f_users" "$want_f_sessions" &&
    grep '^qliksense_sessions_internal' "$work/files.out" | tail -1 | grep -q "log_rows=${rows_written}i" && break
  sleep 0.2
done

step "File source: the last summaries (site, per server, the three apps with most users)"
grep '^qliksense_users[ ,]' "$work/files.out" | tail -1 | show
last_ts=$(grep '^qliksense_users[ ,]' "$work/files.out" | tail -1 | awk '{print $NF}')
grep "^qliksense_users_server" "$work/files.out" | grep " ${last_ts}\$" | show || true
grep "^qliksense_users_app" "$work/files.out" | grep " ${last_ts}\$" |
  sed 's/.*active_users=\([0-9]*\)i.*/\1 &/' | sort -rn | head -3 | cut -d' ' -f2- | show || true

step "File source: session_stop events carry session_duration_s, the difference of the two rows' time stamps"
grep '^qliksense_session_event' "$work/files.out" | grep 'event=session_stop' | grep 'session_duration_s=' | head -2 | show || true

step "File source: its counters (rows written by the replay tool: $rows_written)"
grep '^qliksense_sessions_internal' "$work/files.out" | tail -1 | tr ' ,' '\n\n' |
  grep -E '^(log_|events_accepted|events_ignored|udp_events_superseded)' | sort | sed 's/^/  /'
last=$(grep '^qliksense_users[ ,]' "$work/files.out" | tail -1)
if has_counts "$last" "$want_f_users" "$want_f_sessions"; then
  echo "OK: the last summary shows the ${want_f_users} users and ${want_f_sessions} sessions the replay expected."
else
  echo "MISMATCH: expected ${want_f_users} users and ${want_f_sessions} sessions, last summary: $(echo "$last" | show)" >&2
  exit 1
fi
kill -TERM "$files_pid"
wait "$files_pid" || true

step "File source: Telegraf again, with no state file: the open sessions rebuilt from the files alone"
start_files_telegraf "$work/files2.out" "$work/files2.log"
grep "rows of [0-9]* log files in" "$work/files2.log" | sed 's/^.*\] /  telegraf: /'
for _ in $(seq 1 100); do
  grep -q '^qliksense_users[ ,]' "$work/files2.out" && break
  sleep 0.1
done
first=$(grep '^qliksense_users[ ,]' "$work/files2.out" | head -1 || true)
echo "$first" | show
kill -TERM "$files_pid"
wait "$files_pid" || true
if has_counts "$first" "$want_f_users" "$want_f_sessions"; then
  echo "OK: the first summary after the start shows the same ${want_f_users} users and ${want_f_sessions} sessions, from the files alone."
else
  echo "MISMATCH: the rebuild gave: $(echo "$first" | show)" >&2
  exit 1
fi

step "Stopping Telegraf"
kill -TERM "$tg_pid"
wait "$tg_pid" || true
tg_pid=""
echo "done"
