#!/usr/bin/env bash
# Writes lines from stdin to a topic (kafka-console-producer.sh).
# Kafka's own tool from the cached jars (scripts/kafka/fetch.sh); takes its usual arguments, e.g.
#
#   scripts/kafka/console-producer.sh --bootstrap-server 127.0.0.1:9092 --topic behavior-events --property parse.key=true --property key.separator=:
#
# --help prints the tool's own options. Needs Java 11+ (and Maven for the first fetch).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
run_kafka_tool kafka.tools.ConsoleProducer "$@"
