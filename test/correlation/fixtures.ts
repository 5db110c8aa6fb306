import type { InProcessCallContext, InProcessService } from '@psi/adapters';
import {
  systemClock,
  type Coordinator,
  type PsiStore,
  type CoordinatorOptions,
  type TraceEvent,
  type Transport,
} from '@psi/core';
import { ReferenceEngine, type InstanceSnapshot, type ProcessDefinition } from '@psi/engines';
import { StaticRegistry, type ServiceEntries } from '@psi/registry';
import { PsiTestEnvironment } from '@psi/testing';
import {
  openTestStore,
  portableQuery,
  storeLabel,
  testStoreKinds,
  testStoreOptionsFor,
  useStoreLocations,
  type StoreKind,
  type StoreLocation,
} from '../foundation/test-stores';

// The store kind of the describeEachStore block being defined (describe bodies run synchronously).
let definingKind: StoreKind = 'sqlite';

/**
 * Defines the suite once per store kind (SQLite file, PostgreSQL schema; env PSI_TEST_STORES
 * narrows it), e.g. `describeEachStore('timeouts', () => { ... })` → "timeouts (SQLite file)" and
 * "timeouts (PostgreSQL schema)". Inside, `useTempDir()` hands out locations of that kind.
 */
export function describeEachStore(name: string, body: () => void): void {
  for (const kind of testStoreKinds()) {
    describe(`${name} (${storeLabel(kind)})`, () => {
      const outer = definingKind;
      definingKind = kind;
      try {
        body();
      } finally {
        definingKind = outer;
      }
    });
  }
}

/** The store kind of the describeEachStore block being defined, for cases only one kind has. */
export function definingStoreKind(): StoreKind {
  return definingKind;
}

/**
 * Fresh store locations for the enclosing describeEachStore block (SQLite outside one): each
 * `file()` is a new SQLite file or a new PostgreSQL schema; all are removed after the test file.
 * Opening the same location again sees the same state. Call at describe level.
 */
export function useTempDir(prefix = 'psi-correlation-'): { file(name?: string): StoreLocation } {
  const locations = useStoreLocations(definingKind, prefix);
  return { file: (name) => locations.next(name) };
}

/** Opens (and migrates) the store at a location from {@link useTempDir}. */
export function openStoreAt(location: StoreLocation): Promise<PsiStore> {
  return openTestStore(location);
}

/** Polls `condition` every 10 ms until it holds; fails naming `what` at the deadline. */
export async function waitUntil<T>(
  condition: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A clock tests move by hand. */
export class TestClock {
  constructor(public current = Date.now()) {}
  readonly now = (): number => this.current;
  advance(ms: number): void {
    this.current += ms;
  }
}

export interface HarnessOptions {
  /** Store location (SQLite file or PostgreSQL schema); a harness reopened on it sees the same state. */
  file: StoreLocation;
  definitions: ProcessDefinition[];
  adapters: CoordinatorOptions['adapters'];
  /** In-process services by address. */
  services?: Record<string, InProcessService>;
  registry: ServiceEntries;
  /** Clock for coordinator and engine (timers stay real). */
  clock?: () => number;
  coordinator?: Partial<Omit<CoordinatorOptions, 'store' | 'engine' | 'registry' | 'adapters'>>;
  /** Skip `engine.restore()` (fresh files do not need it). */
  restore?: boolean;
  /** Extra transports beside the in-process one. */
  transports?: Transport[];
}

/**
 * A `PsiTestEnvironment` (@psi/testing) on real time: ReferenceEngine + Coordinator +
 * in-process transport + StaticRegistry on a kept store location.
 */
export interface Harness {
  file: StoreLocation;
  env: PsiTestEnvironment;
  store: PsiStore;
  engine: ReferenceEngine;
  coordinator: Coordinator;
  /** Audit events as reported to onTrace (committed), in order. */
  traces: TraceEvent[];
  /** Everything the coordinator logged and the engine reported; tests assert it stays empty where it should. */
  problems: Array<{ level: string; message: string; detail?: unknown }>;
  /** Closes coordinator, engine and store (in that order). */
  close(): Promise<void>;
  /** Waits until the instance rests at `step`, then returns its snapshot. */
  atStep(instanceId: string, step: string, timeoutMs?: number): Promise<InstanceSnapshot>;
  /** Raw SQL (SQLite dialect: `?` placeholders, rowid) on the store, rows read alike on both databases. */
  query<T = Record<string, unknown>>(sql: string, parameters?: unknown[]): Promise<T[]>;
}

export async function openHarness(options: HarnessOptions): Promise<Harness> {
  const { clock, waitBindings, transports, ...coordinator } = options.coordinator ?? {};
  const now = options.clock ?? clock;
  let engine: ReferenceEngine | undefined;
  const env = await PsiTestEnvironment.create({
    store: testStoreOptionsFor(options.file),
    clock:
      now === undefined ? systemClock : typeof now === 'function' ? { ...systemClock, now } : now,
    engine: ({ stateRepository, clock: psiClock, onError }) =>
      (engine = new ReferenceEngine({
        definitions: options.definitions,
        stateRepository,
        timers: psiClock,
        clock: () => psiClock.now(),
        onError,
      })),
    adapters: options.adapters,
    waitBindings,
    services: options.services,
    registry: new StaticRegistry(options.registry),
    transports: [...(options.transports ?? []), ...(transports ?? [])],
    coordinator,
    restore: options.restore ?? false,
  });
  const { store, coordinator: built } = env;
  return {
    file: options.file,
    env,
    store,
    engine: engine as ReferenceEngine,
    coordinator: built,
    traces: env.traces,
    problems: env.problems,
    close: () => env.dispose(),
    async atStep(instanceId, step, timeoutMs) {
      return waitUntil(
        async () => {
          const snapshot = await env.engine.getInstance(instanceId);
          return snapshot.currentStep === step && snapshot.waitStates.includes(step)
            ? snapshot
            : undefined;
        },
        `instance ${instanceId} rests at "${step}"`,
        timeoutMs,
      );
    },
    query<T>(sql: string, parameters?: unknown[]) {
      return portableQuery<T>(store, sql, parameters);
    },
  };
}

/** An in-process service whose operations record their calls and hand out the call context. */
export class RecordingService {
  readonly calls: Array<{ operation: string; payload: unknown; context: InProcessCallContext }> =
    [];

  /** `replies` maps operation → reply (a function may throw); `undefined` means "answer later". */
  constructor(
    private readonly replies: Record<
      string,
      ((payload: unknown, attempt: number) => unknown) | undefined
    >,
  ) {}

  get service(): InProcessService {
    return Object.fromEntries(
      Object.entries(this.replies).map(([operation, reply]) => [
        operation,
        (payload: unknown, context: InProcessCallContext) => {
          this.calls.push({ operation, payload, context });
          const attempt = this.calls.filter((c) => c.operation === operation).length;
          return reply?.(payload, attempt);
        },
      ]),
    );
  }

  /** The context of the last call, to answer it with its correlation key. */
  last(operation?: string): InProcessCallContext {
    const calls = operation ? this.calls.filter((c) => c.operation === operation) : this.calls;
    const call = calls[calls.length - 1];
    if (!call) throw new Error(`no call${operation ? ` of ${operation}` : ''} recorded`);
    return call.context;
  }
}

/** The kinds of an audit trail, in order. */
export function kinds(trail: readonly TraceEvent[]): string[] {
  return trail.map((e) => e.kind);
}
