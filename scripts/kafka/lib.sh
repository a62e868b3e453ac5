# shellcheck shell=bash
# Shared helpers for scripts/kafka/*.sh. Sourced, not executed.

KAFKA_VERSION="${HERMES_KAFKA_VERSION:-3.9.2}"
KAFKA_SCALA_VERSION="${HERMES_KAFKA_SCALA_VERSION:-2.13}"
KAFKA_HOME_DIR="${HERMES_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/hermes/kafka-${KAFKA_VERSION}}"
KAFKA_LIB_DIR="$KAFKA_HOME_DIR/libs"
KAFKA_CLASSPATH_FILE="$KAFKA_HOME_DIR/classpath.txt"
KAFKA_DEFAULT_DATA_DIR="${HERMES_KAFKA_DATA_DIR:-${TMPDIR:-/tmp}/hermes-kafka}"

case "$KAFKA_VERSION" in
  3.[7-9].*|3.[7-9]) ;;
  *) printf '[kafka] ERROR: HERMES_KAFKA_VERSION=%s is not supported; these scripts target Kafka 3.7-3.9 (kafka.tools.StorageTool, log4j 1.x/reload4j)\n' "$KAFKA_VERSION" >&2; exit 1 ;;
esac

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

# Milliseconds since the epoch (bash 5 EPOCHREALTIME; falls back to date).
now_ms() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    local t="${EPOCHREALTIME/[.,]/}"
    echo "${t:0:${#t}-3}"
  else
    echo "$(( $(date +%s) * 1000 ))"
  fi
}

# Elapsed seconds (one decimal) since a now_ms timestamp.
elapsed_since() {
  local ms=$(( $(now_ms) - $1 ))
  printf '%d.%01d' $((ms / 1000)) $(((ms % 1000) / 100))
}

log() { printf '[kafka] %s\n' "$*" >&2; }
die() { printf '[kafka] ERROR: %s\n' "$*" >&2; exit 1; }

require_cmd() {
  local cmd="$1" hint="$2"
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found on PATH. $hint"
}

require_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    JAVA_BIN="$JAVA_HOME/bin/java"
  else
    require_cmd java "Install a JDK/JRE 17+ (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME."
    JAVA_BIN="$(command -v java)"
  fi
  local major
  major="$("$JAVA_BIN" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}' | tr -d '[:space:]')"
  major="${major#1.}"
  if [[ -z "$major" || ! "$major" =~ ^[0-9]+$ ]]; then
    die "could not determine the Java version of $JAVA_BIN"
  fi
  (( major >= 11 )) || die "Java $major found at $JAVA_BIN; Kafka $KAFKA_VERSION needs Java 11+ (17 recommended)."
}

# True when a TCP connection to 127.0.0.1:$1 succeeds.
port_open() {
  local port="$1"
  (exec 3<>"/dev/tcp/127.0.0.1/$port") >/dev/null 2>&1
}

# True when pid $1 is a kafka.Kafka JVM running node dir $2's server.properties
# (guards against signalling an unrelated process that reused a stale pid).
is_kafka_pid() {
  local cmdline
  if [[ -r "/proc/$1/cmdline" ]]; then
    cmdline="$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null)" || return 1
  else
    cmdline="$(ps -ww -o args= -p "$1" 2>/dev/null)" || return 1
  fi
  [[ "$cmdline" == *"kafka.Kafka $2/server.properties"* ]]
}

# True when the cached classpath exists and every jar on it is present.
classpath_ready() {
  [[ -s "$KAFKA_CLASSPATH_FILE" ]] || return 1
  local jar
  while IFS= read -r jar; do
    [[ -f "$jar" ]] || return 1
  done < <(tr ':' '\n' < "$KAFKA_CLASSPATH_FILE")
  return 0
}

# Kafka's command-line tools (kafka-tools: console consumer, consumer groups, topics) need jars
# the broker does not: they are cached apart, so fetching them never touches the broker's libs
# (a running broker loads classes from there lazily). Their classpath is the broker's plus these.
KAFKA_TOOLS_LIB_DIR="$KAFKA_HOME_DIR/tools-libs"
KAFKA_TOOLS_CLASSPATH_FILE="$KAFKA_HOME_DIR/tools-classpath.txt"

# True when the cached tools classpath exists and every jar on it is present.
tools_classpath_ready() {
  [[ -s "$KAFKA_TOOLS_CLASSPATH_FILE" ]] || return 1
  local jar
  while IFS= read -r jar; do
    [[ -f "$jar" ]] || return 1
  done < <(tr ':' '\n' < "$KAFKA_TOOLS_CLASSPATH_FILE")
  return 0
}

# Runs a Kafka command-line tool: main class $1, the tool's own arguments after it. Fetches the
# jars first if needed (cached: no network). The tool's log4j output goes to stderr at WARN, as
# with Kafka's bin/ scripts (config/tools-log4j.properties).
run_kafka_tool() {
  local main="$1"
  shift
  # Cached (the usual case): no fetch.sh at all, so stderr carries only the tool's own lines.
  if ! classpath_ready || ! tools_classpath_ready; then
    "$SCRIPT_DIR/fetch.sh" >/dev/null || die "could not fetch the Kafka tools (see the lines above)"
  fi
  require_java
  local heap="${HERMES_KAFKA_TOOLS_HEAP_OPTS:--Xmx256m}"
  # shellcheck disable=SC2086
  exec "$JAVA_BIN" $heap -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j.configuration="file:$SCRIPT_DIR/tools-log4j.properties" \
    -cp "$(cat "$KAFKA_TOOLS_CLASSPATH_FILE")" "$main" "$@"
}
