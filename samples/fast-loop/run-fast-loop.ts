import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { InProcessTransport } from '@psi/adapters';
import {
  Coordinator,
  InMemoryEngineStateRepository,
  PsiStore,
  type InvocationInfo,
  type SqliteDurability,
} from '@psi/core';
import { ReferenceEngine, type InstanceSnapshot } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import {
  FAST_LOOP,
  FAST_LOOP_STRICT,
  fastLoopProcess,
  fastLoopStrictProcess,
} from './fast-loop.process';
import { HandleItemAdapter } from './handle-item.adapter';
import { createItemHandler } from './item-handler';
import { summarize, type TimingSummary } from './timing';

/** One producer/handler loop: one instance of the loop process. */
export interface LoopSpec {
  /** Shown in output and handed to the handler with every item. */
  name: string;
  /** How many items the loop produces and hands to the handler. */
  iterations: number;
  /** The "too long" deadline: the instance's SLA, in ms from its start. */
  tooLongMs: number;
  /** `true`: the process catches the SLA fault (`too-long` → `gave-up`); `false`: it is aborted. @default true */
  catchTooLong?: boolean;
  /** The item the handler is deliberately slow with: it answers only after the deadline passed. */
  slowItem?: number;
}

export interface FastLoopOptions {
  /** The SQLite file of PSI's store (invocations, outbox, audit); unused when `volatile`. */
  sqlitePath: string;
  /**
   * What PSI's store survives: `volatile` keeps it in memory only (the short-running choice:
   * nothing of the run outlives the process), `full` syncs every commit to the file.
   * @default 'full'
   */
  durability?: SqliteDurability;
  loops: readonly LoopSpec[];
  /**
   * Where the reference engine keeps its instances: `memory` (the fast short-running choice; an
   * instance does not survive a restart) or `store` (PSI's `psi_engine_instance` table).
   * @default 'memory'
   */
  engineState?: 'memory' | 'store';
  /** Longest a slow handler call takes when the run does not release it first. @default 60_000 */
  slowHandlerMs?: number;
  /** Give up (reject) when the loops have not all ended after this long. @default 60_000 */
  runTimeoutMs?: number;
}

/** How one loop went. */
export interface LoopResult {
  spec: LoopSpec;
  instanceId: string;
  /** The instance as it ended: `completed` at `done` or `gave-up`, or `aborted` with its fault. */
  final: InstanceSnapshot;
  /** `done`: every item handled; `too-long`: the process caught the SLA fault; `aborted`: it did not. */
  outcome: 'done' | 'too-long' | 'aborted' | 'failed';
  /** Per completed iteration, in order: from entering `handle` to entering it again (or the end). */
  iterationsMs: number[];
  /** From `start` to the end of the instance. */
  totalMs: number;
  /** PSI's invocations of the instance's `handle` steps, oldest first. */
  invocations: InvocationInfo[];
}

export interface FastLoopRun {
  loops: LoopResult[];
  /** Over every completed iteration of every loop. */
  timing: TimingSummary;
  /** From the first start to the last end. */
  totalMs: number;
  /** Slow handler calls made (each one answered after its instance had moved on). */
  slowCalls: number;
  /** What the coordinator warned about, e.g. an answer for an instance no longer at `handle`. */
  warnings: string[];
}

/**
 * Runs the loops at once on one reference engine and one PSI coordinator on `sqlitePath`, the
 * handler reached through the in-process transport, and waits until every instance ended.
 * Timing comes from the engine's own events, so it measures the whole round: produce, invoke
 * the adapter, call the handler, record the outcome, signal the engine.
 */
export async function runFastLoop(options: FastLoopOptions): Promise<FastLoopRun> {
  const store = await PsiStore.open({
    sqlitePath: options.sqlitePath,
    durability: options.durability ?? 'full',
  });
  const engine = new ReferenceEngine({
    definitions: [fastLoopProcess, fastLoopStrictProcess],
    stateRepository:
      options.engineState === 'store' ? store.engineStates() : new InMemoryEngineStateRepository(),
  });
  const specs = new Map(options.loops.map((spec) => [randomUUID(), spec]));
  const handler = createItemHandler({
    isSlow: (loop, item) => [...specs.values()].some((s) => s.name === loop && s.slowItem === item),
    slowMs: options.slowHandlerMs,
  });
  const warnings: string[] = [];
  // A sample program: it shows users how to wire PSI, so it does not use @psi/testing.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({
      'item-handler': { transport: 'in-process', address: 'item-handler' },
    }),
    transports: [new InProcessTransport().register('item-handler', handler.service)],
    adapters: [HandleItemAdapter],
    logger: {
      warn: (message) => warnings.push(message),
      error: (message, detail) => console.error(`[psi] ${message}`, detail ?? ''),
    },
  });

  // Per instance: when it last entered `handle`, and each round from there to the next entry
  // (or to the end of the instance).
  const entered = new Map<string, number>();
  const rounds = new Map<string, number[]>([...specs.keys()].map((id) => [id, []]));
  const ended = new Map<string, number>();
  const unsubscribe = engine.subscribe((event) => {
    if (event.type === 'wait-state-entered') return;
    const now = performance.now();
    const since = entered.get(event.instanceId);
    if (since !== undefined) rounds.get(event.instanceId)?.push(now - since);
    if (event.type === 'service-step-entered') entered.set(event.instanceId, now);
    else {
      entered.delete(event.instanceId);
      ended.set(event.instanceId, now);
    }
  });

  try {
    await coordinator.start();
    const startedAt = performance.now();
    const starts = new Map<string, number>();
    await Promise.all(
      [...specs].map(async ([instanceId, spec]) => {
        starts.set(instanceId, performance.now());
        const definition = spec.catchTooLong === false ? FAST_LOOP_STRICT : FAST_LOOP;
        await engine.start(
          definition,
          { loop: spec.name, iterations: spec.iterations },
          { instanceId, slaMs: spec.tooLongMs },
        );
      }),
    );
    const finals = await withTimeout(
      Promise.all([...specs.keys()].map((id) => engine.whenEnded(id))),
      options.runTimeoutMs ?? 60_000,
    );
    const totalMs = Math.max(...[...ended.values()]) - startedAt;
    // A slow handler still works for an instance that gave up: let it answer, so its (late)
    // outcome is recorded before the coordinator closes.
    handler.releaseSlowCalls();
    await coordinator.idle();

    const loops: LoopResult[] = [];
    let i = 0;
    for (const [instanceId, spec] of specs) {
      const final = finals[i++];
      const outcome = outcomeOf(final);
      // The last round of a loop that did not reach `done` was cut short by the deadline while
      // the handler worked: it is not a completed iteration.
      const iterationsMs = rounds.get(instanceId) ?? [];
      if (outcome !== 'done') iterationsMs.pop();
      loops.push({
        spec,
        instanceId,
        final,
        outcome,
        iterationsMs,
        totalMs: (ended.get(instanceId) ?? 0) - (starts.get(instanceId) ?? 0),
        invocations: await coordinator.invocations({ instanceId }),
      });
    }
    return {
      loops,
      timing: summarize(loops.flatMap((loop) => loop.iterationsMs)),
      totalMs,
      slowCalls: handler.slowCalls,
      warnings,
    };
  } finally {
    unsubscribe();
    handler.releaseSlowCalls();
    await coordinator.close();
    await engine.stop();
    await store.close();
  }
}

function outcomeOf(final: InstanceSnapshot): LoopResult['outcome'] {
  if (final.status === 'aborted' || final.status === 'failed') return final.status;
  return final.history.at(-1) === 'gave-up' ? 'too-long' : 'done';
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`The fast loop did not end within ${ms} ms.`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
