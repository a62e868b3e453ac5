#!/usr/bin/env bash
# Stops the registry started by start.sh (by its pid file); idempotent.
#   scripts/registry/stop.sh [--port 18081]
set -euo pipefail
PORT=18081
[ "${1:-}" = "--port" ] && PORT="$2"
RUN_DIR="${HERMES_REGISTRY_DIR:-${TMPDIR:-/tmp}/hermes-registry}"
PIDFILE="$RUN_DIR/registry-$PORT.pid"
[ -f "$PIDFILE" ] || exit 0
PID="$(cat "$PIDFILE")"
if kill -0 "$PID" 2>/dev/null && tr '\0' ' ' < "/proc/$PID/cmdline" 2>/dev/null | grep -q "quarkus.http.port=$PORT"; then
  kill "$PID"
  for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$PID" 2>/dev/null || true
fi
rm -f "$PIDFILE"
