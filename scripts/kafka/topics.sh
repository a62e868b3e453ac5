#!/usr/bin/env bash
# Lists, describes, creates and alters topics (kafka-topics.sh).
# Kafka's own tool from the cached jars (scripts/kafka/fetch.sh); takes its usual arguments, e.g.
#
#   scripts/kafka/topics.sh --bootstrap-server 127.0.0.1:9092 --describe --topic behavior-events
#
# --help prints the tool's own options. Needs Java 11+ (and Maven for the first fetch).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
run_kafka_tool org.apache.kafka.tools.TopicCommand "$@"
