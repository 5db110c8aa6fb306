#!/usr/bin/env node
'use strict';
/*
 * psi-kafka-mock: starts librdkafka's mock Kafka cluster (see startKafkaMockCluster in
 * @psi/adapters/testing), prints its bootstrap servers on the first line and serves until
 * Ctrl-C or SIGTERM. Usage: psi-kafka-mock [broker-count]
 * e.g. in another shell: KAFKA_BROKERS=$(npx psi-kafka-mock | head -1) …
 */
const { startKafkaMockCluster } = require('../dist/testing');

const brokerCount = process.argv[2] === undefined ? 1 : Number(process.argv[2]);
startKafkaMockCluster({ brokerCount }).then(
  (cluster) => {
    process.stdout.write(`${cluster.brokers.join(',')}\n`);
    const stop = () => void cluster.stop().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    setInterval(() => undefined, 1 << 30); // serve until a signal
  },
  (error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  },
);
