#!/usr/bin/env bash
# Start a local KRaft Kafka cluster (1 or 3 combined broker+controller nodes)
# bound to 127.0.0.1, and wait until it answers a real Metadata request.
#
# Usage: scripts/kafka/start.sh [--brokers 1|3] [--port 9092] [--data-dir DIR]
#                               [--controller-port PORT] [--timeout SECONDS]
#                               [--prop key=value]...
#
#   --brokers N          1 (default) or 3 nodes. Node i listens on port+i-1.
#   --port P             first client (PLAINTEXT) port, default 9092.
#   --controller-port C  first controller port, default port+10000 (19092).
#   --data-dir DIR       state/log directory, default $HERMES_KAFKA_DATA_DIR
#                        or ${TMPDIR:-/tmp}/hermes-kafka.
#   --timeout S          how long to wait for readiness, default 90.
#   --prop k=v           extra server.properties line (repeatable).
#   --keep-data          restart stopped nodes on their existing data (topics,
#                        offsets, transactions survive) instead of re-formatting;
#                        falls back to a fresh format when there is none. When
#                        only some nodes of the requested layout are down (e.g.
#                        after stop.sh --node N), only those are started.
#
# Idempotent: if the cluster already answers, exits 0 without touching it.
# Otherwise the node directories are wiped and re-formatted with a fresh
# cluster id (unless --keep-data). On success prints KAFKA_BROKERS=<bootstrap list> on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BROKERS=1
PORT=9092
CONTROLLER_PORT=""
DATA_DIR="$KAFKA_DEFAULT_DATA_DIR"
TIMEOUT="${HERMES_KAFKA_START_TIMEOUT:-90}"
EXTRA_PROPS=()
KEEP_DATA=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --brokers) BROKERS="${2:?--brokers needs a value}"; shift 2 ;;
    --brokers=*) BROKERS="${1#*=}"; shift ;;
    --port) PORT="${2:?--port needs a value}"; shift 2 ;;
    --port=*) PORT="${1#*=}"; shift ;;
    --controller-port) CONTROLLER_PORT="${2:?--controller-port needs a value}"; shift 2 ;;
    --controller-port=*) CONTROLLER_PORT="${1#*=}"; shift ;;
    --data-dir) DATA_DIR="${2:?--data-dir needs a value}"; shift 2 ;;
    --data-dir=*) DATA_DIR="${1#*=}"; shift ;;
    --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#*=}"; shift ;;
    --prop) EXTRA_PROPS+=("${2:?--prop needs key=value}"); shift 2 ;;
    --prop=*) EXTRA_PROPS+=("${1#*=}"); shift ;;
    --keep-data) KEEP_DATA=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

[[ "$BROKERS" == 1 || "$BROKERS" == 3 ]] || die "--brokers must be 1 or 3 (got '$BROKERS')"
[[ "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number (got '$PORT')"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds (got '$TIMEOUT')"
CONTROLLER_PORT="${CONTROLLER_PORT:-$((PORT + 10000))}"
[[ "$CONTROLLER_PORT" =~ ^[0-9]+$ ]] || die "--controller-port must be a number"
for p in "${EXTRA_PROPS[@]+"${EXTRA_PROPS[@]}"}"; do
  [[ "$p" == *=* ]] || die "--prop expects key=value (got '$p')"
done

T0_MS=$(now_ms)
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"

# Serialise concurrent start.sh runs on one data dir (fd 8 is closed for the
# JVMs so the brokers never hold the lock).
if command -v flock >/dev/null 2>&1; then
  exec 8>"$DATA_DIR/.start.lock"
  flock -w "$((TIMEOUT + 120))" 8 || die "timed out waiting for another start.sh on $DATA_DIR"
fi

BOOTSTRAP=""
VOTERS=""
for ((i = 1; i <= BROKERS; i++)); do
  BOOTSTRAP+="${BOOTSTRAP:+,}127.0.0.1:$((PORT + i - 1))"
  VOTERS+="${VOTERS:+,}$i@127.0.0.1:$((CONTROLLER_PORT + i - 1))"
done

node_dir() { echo "$DATA_DIR/node-$1"; }

# Node/kafkajs based readiness probe; falls back to TCP-only when unavailable.
PROBE_MODE=kafkajs
if ! command -v node >/dev/null 2>&1; then
  log "WARNING: node not found; readiness check degrades to a TCP port check"
  PROBE_MODE=tcp
fi

all_ports_open() {
  local i
  for ((i = 1; i <= BROKERS; i++)); do
    port_open "$((PORT + i - 1))" || return 1
  done
}

# 0 = ready, 1 = not ready. Sets PROBE_OUT.
probe() {
  PROBE_OUT=""
  all_ports_open || return 1
  [[ "$PROBE_MODE" == tcp ]] && return 0
  local rc=0
  PROBE_OUT="$(node "$SCRIPT_DIR/probe.mjs" "$BOOTSTRAP" "$BROKERS" 2>&1)" || rc=$?
  if ((rc == 3)); then
    log "WARNING: $PROBE_OUT; readiness check degrades to a TCP port check"
    PROBE_MODE=tcp
    return 0
  fi
  return "$rc"
}

# Pid of the kafka JVM for node $1, if its pid file points at a live kafka process.
live_pid() {
  local pidfile pid
  pidfile="$(node_dir "$1")/kafka.pid"
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  is_kafka_pid "$pid" "$(node_dir "$1")" || return 1
  echo "$pid"
}

dump_logs() {
  local i d
  for ((i = 1; i <= BROKERS; i++)); do
    d="$(node_dir "$i")"
    for f in "$d/kafka.out" "$d/logs/server.log"; do
      [[ -s "$f" ]] || continue
      printf '\n----- tail -n 80 %s -----\n' "$f" >&2
      tail -n 80 "$f" >&2
    done
  done
}

# ---------------------------------------------------------------------------
# 1. Already running?
# ---------------------------------------------------------------------------
if all_ports_open; then
  if probe; then
    log "Kafka already answering on $BOOTSTRAP (${PROBE_OUT:-tcp only}); nothing to do"
    echo "KAFKA_BROKERS=$BOOTSTRAP"
    exit 0
  fi
  # Ports answer, but not as the expected cluster. If it is ours and still
  # starting, fall through to the wait loop; otherwise refuse.
  ours=0
  for ((i = 1; i <= BROKERS; i++)); do live_pid "$i" >/dev/null && ours=1; done
  if ((ours == 0)); then
    die "something is listening on $BOOTSTRAP but is not a ready ${BROKERS}-broker Kafka cluster started from $DATA_DIR ($PROBE_OUT). Stop it (scripts/kafka/stop.sh --data-dir ...) or pick another --port."
  fi
fi

require_java
"$SCRIPT_DIR/fetch.sh" >/dev/null
CLASSPATH_STR="$(cat "$KAFKA_CLASSPATH_FILE")"

HEAP_OPTS="${KAFKA_HEAP_OPTS:-${HERMES_KAFKA_HEAP_OPTS:-$([[ $BROKERS == 1 ]] && echo '-Xms256m -Xmx512m' || echo '-Xms192m -Xmx384m')}}"
# Same GC settings as Kafka's kafka-run-class.sh.
JVM_OPTS="${HERMES_KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true}"

# Internal topic replication: equal to the cluster size.
RF="$BROKERS"
MIN_ISR=$(( BROKERS >= 3 ? 2 : 1 ))

SETSID=""
command -v setsid >/dev/null 2>&1 && SETSID=setsid

STARTED_PIDS=()
STARTED_NODES=()
running=0
for ((i = 1; i <= BROKERS; i++)); do live_pid "$i" >/dev/null && running=$((running + 1)); done

# Live nodes from an earlier start with a different layout (ports/size) are
# restarted rather than waited for.
config_matches() {
  local i
  for ((i = 1; i <= BROKERS; i++)); do
    grep -qxF "listeners=PLAINTEXT://127.0.0.1:$((PORT + i - 1)),CONTROLLER://127.0.0.1:$((CONTROLLER_PORT + i - 1))" \
      "$(node_dir "$i")/server.properties" 2>/dev/null || return 1
    grep -qxF "controller.quorum.voters=$VOTERS" "$(node_dir "$i")/server.properties" 2>/dev/null || return 1
  done
}
extra_live=0
for d in "$DATA_DIR"/node-*; do
  [[ -d "$d" ]] || continue
  n="${d##*/node-}"
  [[ "$n" =~ ^[0-9]+$ ]] && ((n > BROKERS)) && live_pid "$n" >/dev/null && extra_live=1
done
# --keep-data while some nodes of the requested layout are still alive (others were
# stopped, e.g. with stop.sh --node N): start only the stopped ones, on their data.
PARTIAL=0
if ((KEEP_DATA)) && ((running > 0)) && ((running < BROKERS)) && ((extra_live == 0)) \
  && [[ -f "$DATA_DIR/cluster.env" ]] && config_matches; then
  PARTIAL=1
  for ((i = 1; i <= BROKERS; i++)); do
    live_pid "$i" >/dev/null || [[ -f "$(node_dir "$i")/data/meta.properties" ]] || PARTIAL=0
  done
fi
if ((PARTIAL == 0)) && ((running > 0)) && { ((running < BROKERS)) || ((extra_live)) || ! config_matches; }; then
  log "Kafka nodes from a previous start in $DATA_DIR do not match the requested cluster; restarting it"
  "$SCRIPT_DIR/stop.sh" --data-dir "$DATA_DIR" >&2
  running=0
fi

# Starts node $1's JVM on its (formatted) node directory.
launch_node() {
  local i="$1" d pid
  d="$(node_dir "$i")"
  # setsid + nohup: detach from the caller's session/process group so CI
  # step teardown or a closed terminal does not kill the broker.
  # shellcheck disable=SC2086
  (
    cd "$d"
    exec 8>&-
    exec $SETSID nohup "$JAVA_BIN" $HEAP_OPTS $JVM_OPTS \
      -Dlog4j.configuration="file:$d/log4j.properties" -Dkafka.logs.dir="$d/logs" \
      -cp "$CLASSPATH_STR" kafka.Kafka "$d/server.properties"
  ) >"$d/kafka.out" 2>&1 </dev/null &
  pid=$!
  echo "$pid" > "$d/kafka.pid"
  STARTED_PIDS+=("$pid")
  STARTED_NODES+=("$i")
  log "node $i: pid $pid, client 127.0.0.1:$((PORT + i - 1)), controller 127.0.0.1:$((CONTROLLER_PORT + i - 1)), log $d/logs/server.log"
}

if ((running == 0)); then
  # -------------------------------------------------------------------------
  # 2. Configure + format (fresh cluster id) every node.
  # -------------------------------------------------------------------------
  for ((i = 1; i <= BROKERS; i++)); do
    p=$((PORT + i - 1)); c=$((CONTROLLER_PORT + i - 1))
    if port_open "$p"; then die "port $p (127.0.0.1) is already in use by another process"; fi
    if port_open "$c"; then die "controller port $c (127.0.0.1) is already in use by another process"; fi
  done

  # --keep-data: formatted nodes with the requested layout restart on their data.
  reusable=0
  if ((KEEP_DATA)) && [[ -f "$DATA_DIR/cluster.env" ]] && config_matches; then
    reusable=1
    for ((i = 1; i <= BROKERS; i++)); do
      [[ -f "$(node_dir "$i")/data/meta.properties" ]] || reusable=0
    done
  fi
  if ((reusable)); then
    CLUSTER_ID="$(sed -n 's/^KAFKA_CLUSTER_ID=//p' "$DATA_DIR/cluster.env")"
    log "restarting $BROKERS KRaft node(s) on their existing data in $DATA_DIR (cluster id $CLUSTER_ID)"
  else
  # Kafka Uuid: 16 random bytes, base64url without padding (22 chars). Like
  # Uuid.randomUuid(), reject ids starting with '-' (parsed as a CLI option).
  CLUSTER_ID="-"
  while [[ "$CLUSTER_ID" == -* || ${#CLUSTER_ID} -ne 22 ]]; do
    CLUSTER_ID="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  log "formatting $BROKERS KRaft node(s) in $DATA_DIR (cluster id $CLUSTER_ID)"

  for ((i = 1; i <= BROKERS; i++)); do
    d="$(node_dir "$i")"
    rm -rf "$d"
    mkdir -p "$d/data" "$d/logs"
    p=$((PORT + i - 1)); c=$((CONTROLLER_PORT + i - 1))
    cat > "$d/server.properties" <<PROPS
# Generated by scripts/kafka/start.sh -- test-only single-host KRaft settings.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:$p,CONTROLLER://127.0.0.1:$c
advertised.listeners=PLAINTEXT://127.0.0.1:$p
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$d/data
num.partitions=1
default.replication.factor=$RF
min.insync.replicas=1
offsets.topic.replication.factor=$RF
offsets.topic.num.partitions=${HERMES_KAFKA_OFFSETS_PARTITIONS:-10}
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=${HERMES_KAFKA_TXN_PARTITIONS:-10}
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
auto.create.topics.enable=true
delete.topic.enable=true
num.network.threads=3
num.io.threads=4
# Nothing is deleted by age: tests and replays write records with event-time timestamps weeks
# or decades old (1970 for config records), which a time-based retention check (every 5 min)
# would delete under a running test, active segment included.
log.retention.ms=-1
log.segment.bytes=104857600
log.cleaner.dedupe.buffer.size=16777216
PROPS
    for prop in "${EXTRA_PROPS[@]+"${EXTRA_PROPS[@]}"}"; do
      echo "$prop" >> "$d/server.properties"
    done
    cat > "$d/log4j.properties" <<'LOG4J'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.org.apache.kafka.clients.NetworkClient=WARN
LOG4J
  done

  fmt_pids=()
  for ((i = 1; i <= BROKERS; i++)); do
    d="$(node_dir "$i")"
    # shellcheck disable=SC2086
    "$JAVA_BIN" -Xmx256m -XX:TieredStopAtLevel=1 -Xshare:auto \
      -Dlog4j.configuration="file:$d/log4j.properties" -Dkafka.logs.dir="$d/logs" \
      -cp "$CLASSPATH_STR" kafka.tools.StorageTool format \
      -t "$CLUSTER_ID" -c "$d/server.properties" >"$d/format.log" 2>&1 8>&- &
    fmt_pids+=("$!")
  done
  for idx in "${!fmt_pids[@]}"; do
    if ! wait "${fmt_pids[$idx]}"; then
      cat "$(node_dir $((idx + 1)))/format.log" >&2
      die "kafka.tools.StorageTool format failed for node $((idx + 1))"
    fi
  done
  fi

  # -------------------------------------------------------------------------
  # 3. Launch.
  # -------------------------------------------------------------------------
  for ((i = 1; i <= BROKERS; i++)); do launch_node "$i"; done
  cat > "$DATA_DIR/cluster.env" <<ENV
KAFKA_VERSION=$KAFKA_VERSION
KAFKA_CLUSTER_ID=$CLUSTER_ID
KAFKA_NODES=$BROKERS
KAFKA_BROKERS=$BOOTSTRAP
KAFKA_CONTROLLER_QUORUM=$VOTERS
ENV
elif ((PARTIAL)); then
  for ((i = 1; i <= BROKERS; i++)); do
    live_pid "$i" >/dev/null && continue
    p=$((PORT + i - 1)); c=$((CONTROLLER_PORT + i - 1))
    if port_open "$p"; then die "port $p (127.0.0.1) is already in use by another process"; fi
    if port_open "$c"; then die "controller port $c (127.0.0.1) is already in use by another process"; fi
    log "restarting stopped node $i on its existing data in $DATA_DIR"
    launch_node "$i"
  done
else
  log "Kafka nodes from a previous start are alive but not ready yet; waiting"
fi

# ---------------------------------------------------------------------------
# 4. Wait (bounded) for readiness.
# ---------------------------------------------------------------------------
fail() {
  log "ERROR: $1"
  dump_logs
  if ((${#STARTED_PIDS[@]} > 0)); then
    log "stopping the nodes started by this invocation"
    if ((PARTIAL)); then
      for n in "${STARTED_NODES[@]}"; do "$SCRIPT_DIR/stop.sh" --data-dir "$DATA_DIR" --node "$n" >&2 || true; done
    else
      "$SCRIPT_DIR/stop.sh" --data-dir "$DATA_DIR" >&2 || true
    fi
  fi
  exit 1
}

deadline=$((SECONDS + TIMEOUT))
while :; do
  for ((i = 1; i <= BROKERS; i++)); do
    live_pid "$i" >/dev/null || fail "Kafka node $i exited during startup (see logs above, $(node_dir "$i"))"
  done
  if probe; then break; fi
  if ((SECONDS >= deadline)); then
    fail "Kafka did not become ready on $BOOTSTRAP within ${TIMEOUT}s (last probe: ${PROBE_OUT:-ports not open})"
  fi
  sleep 0.5
done

log "Kafka $KAFKA_VERSION ready on $BOOTSTRAP after $(elapsed_since "$T0_MS")s total (${PROBE_OUT:-tcp only})"
echo "KAFKA_BROKERS=$BOOTSTRAP"
