import type { BenchEntry } from './entry';

/**
 * Entries still to be written. Each becomes its own file under bench/entries/ exporting a
 * BenchEntry with a `run`, replacing its placeholder here (see memory.ts for RSS sampling).
 */
export const plannedEntries: BenchEntry[] = [
  {
    name: 'http',
    description: 'PSI correlations over the HTTP transport vs raw undici request/response',
    planned: 'needs the HTTP transport and callback server under load; ratio vs raw undici',
  },
  {
    name: 'kafka',
    description: 'PSI correlations over the Kafka transport vs raw kafkajs produce/consume',
    planned: 'needs a broker; ratio vs raw kafkajs round trips',
  },
];
