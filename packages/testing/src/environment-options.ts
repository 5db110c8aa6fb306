import type { InProcessService } from '@psi/adapters';
import type { CoordinatorOptions, PsiClock, ServiceRegistry, Transport } from '@psi/core';
import type { ServiceEntry } from '@psi/registry';
import type { ScriptedService, ServiceCall } from './scripted-service';
import type { TestEngineFactory } from './test-engines';
import type { TestStoreOptions } from './test-store';

/** How to build a `PsiTestEnvironment`. */
export interface PsiTestEnvironmentOptions {
  /** Adapter classes (`@ServiceAdapter`), as the coordinator's `adapters`. */
  adapters: CoordinatorOptions['adapters'];
  /** Wait binding classes (`@WaitBinding`). @default [] */
  waitBindings?: CoordinatorOptions['waitBindings'];
  /** The engine: `referenceEngine(defs)`, `xstateEngine(machines)` (`@psi/testing/xstate`), `bpmnEngine(xml)` or your own. */
  engine: TestEngineFactory;
  /**
   * The services adapters call, by service name, hosted in-process: a `ScriptedService`
   * the test scripts, or any `{ operation: (payload, context) => reply }`. @default {}
   */
  services?: Record<string, ScriptedService | InProcessService>;
  /**
   * Registry entries beside the default one per service (`{ transport: 'in-process', address:
   * <name> }`): `retry`, `parkingTtlMs`, `timeoutMs`, or another transport. @default {}
   */
  coordinates?: Record<string, Partial<ServiceEntry>>;
  /** Where the state lives. @default a SQLite file in a new temp dir */
  store?: TestStoreOptions;
  /** Epoch ms the test clock starts at. @default the real time at creation */
  startAt?: number;
  /**
   * Run PSI and the engine on this clock instead of a `TestClock`, e.g. `systemClock` for a
   * test that waits in real time. The environment then keeps the coordinator's own defaults
   * (none of those below for a moving clock), and `env.clock` throws.
   * @default a new TestClock (`env.clock`)
   */
  clock?: PsiClock;
  /** A registry of your own instead of one naming each service at its in-process address. */
  registry?: ServiceRegistry;
  /**
   * Call `engine.restore()` at each start (instances in a kept store come back): after the
   * coordinator starts (`true`), before it (`'before-start'`: the coordinator handles the events
   * the restore raised once it starts; PSI supports both orders), or not at all. @default true
   */
  restore?: boolean | 'before-start';
  /** Transports beside the in-process one (their services: give `coordinates`). @default [] */
  transports?: Transport[];
  /**
   * Other coordinator options. The environment's defaults suit one coordinator on a test clock:
   * `deadlinePollMs: Infinity` (no polling), `nodeId: 'psi-test'` with a liveness that sees no
   * other node (no take-over sweeps), `leaseMs` and `retention.intervalMs` a year (no
   * renewals or sweeps while days pass; `coordinator.sweepRetention()` sweeps), and retry
   * backoff without jitter (`random: () => 1`: the policy's nominal delays).
   */
  coordinator?: Partial<
    Omit<
      CoordinatorOptions,
      'store' | 'engine' | 'registry' | 'transports' | 'adapters' | 'waitBindings' | 'clock'
    >
  >;
  /** How long (real ms) `waitUntil` and its kin wait for work outside PSI. @default 5_000 */
  patienceMs?: number;
  /**
   * How long (real ms) PSI may have work running with no engine or audit event at all before
   * letting it settle fails with SettleTimedOutError (a service call or handler that never
   * returns), instead of hanging until the test runner's timeout. @default 15_000
   */
  stuckAfterMs?: number;
}

/** An answer as a test hands it to PSI; `call` fills in its correlation key and sender. */
export interface TestAnswer {
  event: string;
  payload?: unknown;
  /** The call this answers: its correlation key, sent as `in-process:<service>`. */
  call?: ServiceCall;
  correlationKey?: string;
  businessKey?: Record<string, unknown>;
  /** @default derived from the content (the same answer twice is a duplicate) */
  messageId?: string;
  /** @default the call's service, else `test` */
  sender?: string;
}

/** What the environment saw go wrong in the background: coordinator errors, engine failures. */
export interface TestProblem {
  level: 'error' | 'warn' | 'engine' | 'clock';
  message: string;
  detail?: unknown;
}
