import type { BenchResult } from '../report';

/** What every entry gets from the runner. */
export interface BenchContext {
  /** `--quick`: a smoke run with far fewer operations (numbers are indicative only). */
  quick: boolean;
  /** A fresh directory for this entry's files; the runner deletes it at the end. */
  tmpDir: string;
  /** `--populations 0,100000`: the store sizes an entry that has them runs at (`scale`). */
  populations?: number[];
  /** Progress lines (stderr), so stdout stays the table. */
  log(message: string): void;
}

/** A benchmark entry: one file under bench/entries/, registered in bench/run.ts. */
export interface BenchEntry {
  /** Selected by `--only <name>`. */
  name: string;
  description: string;
  /** Entries whose rows this one's ratios refer to; `--only` runs them too, first. */
  baselines?: readonly string[];
  run(context: BenchContext): Promise<BenchResult[]>;
}
