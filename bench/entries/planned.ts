import type { BenchEntry } from './entry';

/**
 * Entries still to be written. Each becomes its own file under bench/entries/ exporting a
 * BenchEntry with a `run`, replacing its placeholder here (see memory.ts for RSS sampling).
 */
export const plannedEntries: BenchEntry[] = [];
