#!/usr/bin/env bash
# Stop the Kafka node(s) started by start.sh (found via DATA_DIR/node-*/kafka.pid).
#
# Usage: scripts/kafka/stop.sh [--data-dir DIR] [--timeout SECONDS] [--clean]
#                              [--node N] [--kill]
#
#   --data-dir DIR   same directory given to start.sh (default $HERMES_KAFKA_DATA_DIR
#                    or ${TMPDIR:-/tmp}/hermes-kafka).
#   --timeout S      grace period after SIGTERM before SIGKILL, default 30.
#   --clean          also delete DATA_DIR after the nodes have exited.
#   --node N         stop only node N (DATA_DIR/node-N); the others keep running.
#                    `start.sh --keep-data` with the same layout starts it again.
#   --kill           SIGKILL at once, without a controlled shutdown (simulates a crash).
#
# Idempotent: exits 0 when nothing is running. Only signals processes whose
# command line is kafka.Kafka with this data dir's server.properties.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA_DIR="$KAFKA_DEFAULT_DATA_DIR"
TIMEOUT="${HERMES_KAFKA_STOP_TIMEOUT:-30}"
CLEAN=0
NODE=""
SIGNAL=TERM
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_DIR="${2:?--data-dir needs a value}"; shift 2 ;;
    --data-dir=*) DATA_DIR="${1#*=}"; shift ;;
    --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#*=}"; shift ;;
    --clean) CLEAN=1; shift ;;
    --node) NODE="${2:?--node needs a value}"; shift 2 ;;
    --node=*) NODE="${1#*=}"; shift ;;
    --kill) SIGNAL=KILL; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds (got '$TIMEOUT')"
[[ -z "$NODE" || "$NODE" =~ ^[0-9]+$ ]] || die "--node must be a node number (got '$NODE')"
((CLEAN == 0)) || [[ -z "$NODE" ]] || die "--clean deletes the whole data dir; it cannot be combined with --node"

if [[ ! -d "$DATA_DIR" ]]; then
  log "nothing to stop ($DATA_DIR does not exist)"
  exit 0
fi
DATA_DIR="$(cd "$DATA_DIR" && pwd)"

declare -a PIDS=() PIDFILES=()
shopt -s nullglob
if [[ -n "$NODE" ]]; then pidfiles=("$DATA_DIR/node-$NODE/kafka.pid"); else pidfiles=("$DATA_DIR"/node-*/kafka.pid); fi
for pidfile in "${pidfiles[@]}"; do
  [[ -f "$pidfile" ]] || continue
  d="$(dirname "$pidfile")"
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && is_kafka_pid "$pid" "$d"; then
    PIDS+=("$pid"); PIDFILES+=("$pidfile")
  else
    rm -f "$pidfile"   # stale
  fi
done

alive() { local p; for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && echo "$p"; done; return 0; }

if ((${#PIDS[@]} > 0)); then
  log "stopping Kafka pid(s) ${PIDS[*]} with SIG$SIGNAL (data dir $DATA_DIR${NODE:+, node $NODE})"
  start_ms=$(now_ms)
  # SIGTERM all nodes at once: Kafka runs a controlled shutdown hook. SIGKILL (--kill) skips it.
  kill "-$SIGNAL" "${PIDS[@]}" 2>/dev/null || true
  deadline=$((SECONDS + TIMEOUT))
  while [[ -n "$(alive)" ]] && ((SECONDS < deadline)); do sleep 0.2; done
  left="$(alive | paste -sd' ' -)"
  if [[ -n "$left" ]]; then
    log "pid(s) $left still alive after ${TIMEOUT}s; sending SIGKILL"
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
    for _ in $(seq 1 50); do [[ -z "$(alive)" ]] && break; sleep 0.1; done
    [[ -z "$(alive)" ]] || die "pid(s) $(alive | paste -sd' ' -) survived SIGKILL"
  fi
  rm -f "${PIDFILES[@]}"
  log "stopped in $(elapsed_since "$start_ms")s"
else
  log "no running Kafka node found under $DATA_DIR${NODE:+ (node $NODE)}"
fi

if ((CLEAN)); then
  rm -rf "$DATA_DIR"
  log "removed $DATA_DIR"
fi
