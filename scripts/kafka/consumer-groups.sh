#!/usr/bin/env bash
# Lists, describes (offsets, lag, members) and resets consumer groups (kafka-consumer-groups.sh).
# Kafka's own tool from the cached jars (scripts/kafka/fetch.sh); takes its usual arguments, e.g.
#
#   scripts/kafka/consumer-groups.sh --bootstrap-server 127.0.0.1:9092 --describe --group push-decisions
#
# --help prints the tool's own options. Needs Java 11+ (and Maven for the first fetch).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
run_kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@"
