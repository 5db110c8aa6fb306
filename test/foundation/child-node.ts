import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { PsiStore } from '@psi/core';
import { StoreInspector } from '@psi/core/testing';

/** The SQLite file a child node works on, and the JSON-lines journal it writes what it saw to. */
export interface ChildFiles {
  db: string;
  journal: string;
}

/**
 * Runs a child node script (built JS on the built packages) to its end. Exiting 0 and being
 * SIGKILLed (what crash and restart tests do to it) both count as done; anything else fails with
 * the child's stderr and journal.
 */
export function runChildNode(
  script: string,
  args: readonly string[],
  options: { cwd: string; journal: string; env?: Record<string, string>; timeoutMs: number },
): { signal: string | null; status: number | null } {
  const result = spawnSync(process.execPath, [script, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    timeout: options.timeoutMs,
  });
  if (result.status !== 0 && result.signal !== 'SIGKILL') {
    const journal = readJournal(options.journal).map((entry) => JSON.stringify(entry));
    throw new Error(
      `child ${args.join(' ')} failed (${String(result.status ?? result.signal)}): ` +
        `${result.stderr}\n${journal.join('\n')}`,
    );
  }
  return { signal: result.signal, status: result.status };
}

/** What a child node wrote to its journal, one JSON object per line; empty when it wrote none. */
export function readJournal<Entry = Record<string, unknown>>(file: string): Entry[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Entry);
}

/** Opens the SQLite file a child node left, runs `work` on it and closes it again. */
export async function inspectStore<T>(
  db: string,
  work: (store: PsiStore) => Promise<T>,
): Promise<T> {
  const store = await PsiStore.open({ sqlitePath: db });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** Opens the SQLite file a child node left and reads its records (see StoreInspector). */
export function inspectRecords<T>(
  db: string,
  work: (records: StoreInspector) => Promise<T>,
): Promise<T> {
  return inspectStore(db, (store) => work(new StoreInspector(store)));
}
