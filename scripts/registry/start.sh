#!/usr/bin/env bash
# Starts a real Confluent-compatible schema registry for development and tests: Apicurio
# Registry (Apache-2.0), in-memory storage, from its Maven Central artifact, bound to 127.0.0.1.
# Idempotent: exits 0 at once when the registry already answers.
#
#   scripts/registry/start.sh [--port 18081]
#   env: HERMES_APICURIO_VERSION (default: 3.3.3 with a Java 21+ on the machine, else 3.0.9 on Java 17)
#        HERMES_APICURIO_HOME (cache, default ~/.cache/hermes), HERMES_REGISTRY_DIR (pid, log; default /tmp/hermes-registry)
# Prints REGISTRY_URL=http://127.0.0.1:<port>/apis/ccompat/v7 when ready.
set -euo pipefail
PORT=18081
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    *) echo "start.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
URL="http://127.0.0.1:${PORT}/apis/ccompat/v7"
RUN_DIR="${HERMES_REGISTRY_DIR:-${TMPDIR:-/tmp}/hermes-registry}"
CACHE="${HERMES_APICURIO_HOME:-$HOME/.cache/hermes}"
mkdir -p "$RUN_DIR" "$CACHE"

answers() { curl -fsS -o /dev/null --max-time 2 "$URL/subjects" 2>/dev/null; }
if answers; then echo "REGISTRY_URL=$URL"; exit 0; fi

command -v mvn >/dev/null || { echo "start.sh: mvn is needed to fetch Apicurio from Maven Central" >&2; exit 1; }
command -v curl >/dev/null || { echo "start.sh: curl is needed" >&2; exit 1; }

# Apicurio 3.3.x needs Java 21+; 3.0.9 runs on Java 17.
JAVA21=""
for j in ${JAVA21_HOME:-} /usr/lib/jvm/temurin-2[1-9]-jdk-amd64 /usr/lib/jvm/java-2[1-9]-openjdk-amd64 /usr/lib/jvm/temurin-2[1-9]-jdk /usr/lib/jvm/jdk-2[1-9]*; do
  if [ -n "$j" ] && [ -x "$j/bin/java" ]; then JAVA21="$j/bin/java"; break; fi
done
if [ -n "${HERMES_APICURIO_VERSION:-}" ]; then VERSION="$HERMES_APICURIO_VERSION"
elif [ -n "$JAVA21" ]; then VERSION=3.3.3
else VERSION=3.0.9; fi
case "$VERSION" in
  3.0.*|2.*) JAVA="$(command -v java)" ;;
  *) [ -n "$JAVA21" ] || { echo "start.sh: Apicurio $VERSION needs Java 21+; none found (set JAVA21_HOME or HERMES_APICURIO_VERSION=3.0.9)" >&2; exit 1; }
     JAVA="$JAVA21" ;;
esac

HOME_DIR="$CACHE/apicurio-$VERSION"
if [ ! -f "$HOME_DIR/.complete" ]; then
  rm -rf "$HOME_DIR"; mkdir -p "$HOME_DIR"
  echo "fetching Apicurio Registry $VERSION from Maven Central..." >&2
  # Plugin 2.8 with transitive=false does not read the artifact's parent POM, which Maven
  # Central lacks for some Apicurio versions.
  # The local repository is named explicitly: Maven takes its default from the Java user.home
  # (the passwd entry), which is not always $HOME.
  REPO="${MAVEN_REPO:-$HOME/.m2/repository}"
  mvn -B -q -Dmaven.repo.local="$REPO" org.apache.maven.plugins:maven-dependency-plugin:2.8:get \
    -Dartifact="io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all" -Dtransitive=false >"$HOME_DIR/mvn.log" 2>&1 \
    || { echo "start.sh: mvn could not fetch Apicurio $VERSION; see $HOME_DIR/mvn.log" >&2; tail -20 "$HOME_DIR/mvn.log" >&2; exit 1; }
  tar xzf "$REPO/io/apicurio/apicurio-registry-app/$VERSION/apicurio-registry-app-$VERSION-all.tar.gz" -C "$HOME_DIR"
  touch "$HOME_DIR/.complete"
fi
JAR="$(find "$HOME_DIR" -maxdepth 1 \( -name quarkus-run.jar -o -name '*-runner.jar' \) | head -1)"
[ -n "$JAR" ] || { echo "start.sh: no runnable jar in $HOME_DIR" >&2; exit 1; }

LOG="$RUN_DIR/registry-$PORT.log"
PIDFILE="$RUN_DIR/registry-$PORT.pid"
cd "$HOME_DIR"
# Everything on 127.0.0.1, including Quarkus' management port (3.3.x opens 0.0.0.0:9000 otherwise).
setsid nohup "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$PORT" \
  -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$((PORT + 1000))" \
  -Dquarkus.http.access-log.enabled=false -Dquarkus.log.level=WARN \
  -Dapicurio.rules.global.compatibility=BACKWARD \
  -jar "$JAR" >"$LOG" 2>&1 < /dev/null &
echo $! > "$PIDFILE"
for _ in $(seq 1 450); do
  if answers; then echo "REGISTRY_URL=$URL"; exit 0; fi
  if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "start.sh: Apicurio exited during start-up; last lines of $LOG:" >&2; tail -30 "$LOG" >&2; exit 1
  fi
  sleep 0.2
done
echo "start.sh: Apicurio not ready after 90 s; last lines of $LOG:" >&2; tail -30 "$LOG" >&2
kill "$(cat "$PIDFILE")" 2>/dev/null || true
exit 1
