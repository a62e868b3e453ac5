#!/usr/bin/env bash
# Reads records of a topic and prints them (kafka-console-consumer.sh).
# Kafka's own tool from the cached jars (scripts/kafka/fetch.sh); takes its usual arguments, e.g.
#
#   scripts/kafka/console-consumer.sh --bootstrap-server 127.0.0.1:9092 --topic push-decisions --from-beginning --property print.key=true
#
# --help prints the tool's own options. Needs Java 11+ (and Maven for the first fetch).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
run_kafka_tool org.apache.kafka.tools.consumer.ConsoleConsumer "$@"
