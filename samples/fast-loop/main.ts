import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { runFastLoop, type LoopResult } from './run-fast-loop';
import { formatSummary, summarize } from './timing';

/**
 * The fast short-running loop on the reference engine: producer/handler loops through PSI with
 * the in-process transport, timed per iteration; then a deliberately slow handler trips the
 * "too long" deadline (the instance's SLA): one loop catches the fault, one is aborted.
 *
 *   npm run sample:fast-loop -- [--loops 4] [--iterations 250] [--engine-state memory|store]
 *                               [--store volatile|file] [--verbose]
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      loops: { type: 'string', default: '4' },
      iterations: { type: 'string', default: '250' },
      'engine-state': { type: 'string', default: 'memory' },
      store: { type: 'string', default: 'volatile' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const loops = positive(values.loops, '--loops');
  const iterations = positive(values.iterations, '--iterations');
  const engineState = values['engine-state'];
  if (engineState !== 'memory' && engineState !== 'store') {
    throw new Error(`--engine-state must be "memory" or "store", got "${engineState}"`);
  }
  const durability = values.store === 'file' ? 'full' : values.store;
  if (durability !== 'volatile' && durability !== 'full') {
    throw new Error(`--store must be "volatile" or "file", got "${values.store}"`);
  }
  const sqlitePath = process.env.PSI_SQLITE_PATH ?? '.psi/fast-loop-demo.sqlite';
  console.log(
    `PSI fast loop — reference engine, engine state in ${engineState}, PSI store ${durability === 'volatile' ? 'in memory (volatile: nothing outlives the process)' : sqlitePath}\n`,
  );

  const tooLongMs = 10_000;
  console.log(
    `1) ${loops} loop${loops === 1 ? '' : 's'} × ${iterations} items, handler over the in-process transport, "too long" after ${tooLongMs} ms`,
  );
  const fast = await runFastLoop({
    sqlitePath,
    durability,
    engineState,
    loops: Array.from({ length: loops }, (_, i) => ({
      name: `loop-${i + 1}`,
      iterations,
      tooLongMs,
    })),
  });
  for (const loop of fast.loops) {
    console.log(
      `   ${loop.spec.name.padEnd(8)} ${handled(loop)} ${loop.outcome.padEnd(8)} total ${ms(loop.totalMs)}  ${formatSummary(summarize(loop.iterationsMs))}`,
    );
    if (values.verbose) {
      loop.iterationsMs.forEach((t, i) => console.log(`      #${i + 1}  ${t.toFixed(2)} ms`));
    }
  }
  const count = fast.timing.count;
  console.log(
    `   all      ${count} iterations in ${ms(fast.totalMs)} (${Math.round((count / fast.totalMs) * 1000)}/s)  ${formatSummary(fast.timing)}\n`,
  );

  const slowTooLongMs = 50;
  console.log(`2) a deliberately slow handler (item 3 of 5), "too long" after ${slowTooLongMs} ms`);
  const slow = await runFastLoop({
    sqlitePath,
    durability,
    engineState,
    loops: [
      { name: 'caught', iterations: 5, tooLongMs: slowTooLongMs, slowItem: 3 },
      {
        name: 'strict',
        iterations: 5,
        tooLongMs: slowTooLongMs,
        slowItem: 3,
        catchTooLong: false,
      },
    ],
  });
  for (const loop of slow.loops) {
    const how =
      loop.outcome === 'too-long'
        ? `fault caught: ${loop.final.history.slice(-2).join(' → ')}`
        : loop.outcome === 'aborted'
          ? `aborted: ${loop.final.fault?.code ?? ''} (${loop.final.fault?.message ?? ''})`
          : loop.outcome;
    console.log(
      `   ${loop.spec.name.padEnd(8)} ${handled(loop)} after ${ms(loop.totalMs)}, ${how}`,
    );
  }
  console.log(
    `   the slow handler answered ${slow.slowCalls} time(s) after its instance had moved on; PSI recorded ${slow.warnings.length} outcome(s) without signalling`,
  );

  const ok =
    fast.loops.every((l) => l.outcome === 'done') &&
    slow.loops.map((l) => l.outcome).join() === 'too-long,aborted';
  if (!ok) process.exitCode = 1;
}

function handled(loop: LoopResult): string {
  return `${String(loop.final.variables.handled ?? 0)}/${loop.spec.iterations}`.padEnd(9);
}

function ms(value: number): string {
  return `${value.toFixed(0)} ms`.padStart(7);
}

function positive(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
