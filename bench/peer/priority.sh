#!/usr/bin/env bash
# Runs a command (a benchmark) in a session of its own whose scheduler group has nice -10, so
# that on a shared machine with sched_autogroup on (Debian's default) it gets the CPU before the
# other sessions' work; its children (Kafka Streams' JVM, the producer thread) share it. Needs
# root (a negative nice); without it the command runs as it is, with a warning.
#
#   bash bench/peer/priority.sh npx tsx bench/peer/compare.ts --runs 2 ...
#   bash bench/peer/priority.sh --broker   # also the broker's group (the java process on :9092)
set -euo pipefail
if [[ "${1:-}" == "--broker" ]]; then
  shift
  pid=$(ss -ltnp 2>/dev/null | awk '/127.0.0.1:9092 / { match($0, /pid=[0-9]+/); print substr($0, RSTART + 4, RLENGTH - 4); exit }')
  if [[ -n "$pid" ]] && echo -10 2>/dev/null > "/proc/$pid/autogroup"; then echo "broker (pid $pid): scheduler group at nice -10" >&2
  else echo "priority.sh: could not raise the broker's scheduler group (not root, or no broker on 127.0.0.1:9092)" >&2; fi
  [[ $# -eq 0 ]] && exit 0
fi
exec setsid bash -c 'echo -10 2>/dev/null > /proc/$$/autogroup || echo "priority.sh: could not raise the scheduler group (needs root); running as is" >&2; exec "$@"' priority "$@"
