#!/bin/sh
# Starts librdkafka's mock Kafka cluster in the foreground; prints its bootstrap servers
# (e.g. 127.0.0.1:40007) on the first line. Stop it with Ctrl-C or SIGTERM.
# Usage: scripts/kafka-mock/start.sh [broker-count]
set -eu
bin=$("$(dirname "$0")/build.sh")
exec "$bin" "$@"
