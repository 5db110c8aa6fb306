import { InProcessTransport } from '@psi/adapters';
import type { CoordinatorOptions, InboundMessage, PsiClock, PsiStore, TraceEvent } from '@psi/core';
import { StaticRegistry, type ServiceEntry } from '@psi/registry';
import type { PsiTestEnvironmentOptions, TestAnswer, TestProblem } from './environment-options';
import { ScriptedService } from './scripted-service';
import type { TestClock } from './test-clock';
import type { TestEngine } from './test-engines';

const DAY_MS = 86_400_000;

/**
 * The coordinator options of an environment: the in-process transport hosting the services, a
 * registry naming them, the environment's logger and trace hook, and, on a TestClock, the
 * defaults for one node whose clock skips days (see `PsiTestEnvironmentOptions.coordinator`).
 */
export function environmentCoordinatorOptions(
  options: PsiTestEnvironmentOptions,
  parts: {
    store: PsiStore;
    engine: TestEngine;
    clock: PsiClock;
    testClock: TestClock | undefined;
    problems: TestProblem[];
    onTrace: (event: TraceEvent) => void;
  },
): CoordinatorOptions {
  const transport = new InProcessTransport();
  const entries: Record<string, ServiceEntry> = {};
  for (const [name, service] of Object.entries(options.services ?? {})) {
    transport.register(name, service instanceof ScriptedService ? service.operations : service);
    entries[name] = { transport: transport.name, address: name };
  }
  for (const [name, entry] of Object.entries(options.coordinates ?? {})) {
    entries[name] = {
      ...(entries[name] ?? { transport: transport.name, address: name }),
      ...entry,
    };
  }
  const extra = options.coordinator ?? {};
  const movingClock: Partial<CoordinatorOptions> = parts.testClock
    ? {
        deadlinePollMs: Number.POSITIVE_INFINITY,
        // One node, under one id over restarts (it takes its own work back at start); no
        // take-over sweeps for other nodes every second while the clock skips days.
        nodeId: 'psi-test',
        liveness: singleNodeLiveness(),
        leaseMs: 365 * DAY_MS,
        random: () => 1,
        retention: { intervalMs: 365 * DAY_MS, ...extra.retention },
      }
    : {};
  return {
    logger: {
      // A flow step logged at warn (an invocation frozen) is a recorded step of the flow, in
      // env.traces and the timeline, not a problem of the environment: its line has a `step`.
      warn: (message, detail) => {
        if (isFlowStepLine(detail)) return;
        parts.problems.push({ level: 'warn', message, detail });
      },
      error: (message, detail) => parts.problems.push({ level: 'error', message, detail }),
    },
    ...movingClock,
    ...extra,
    ...(movingClock.retention ? { retention: movingClock.retention } : {}),
    onTrace: (event) => {
      parts.onTrace(event);
      extra.onTrace?.(event);
    },
    store: parts.store,
    engine: parts.engine,
    clock: parts.clock,
    registry: options.registry ?? new StaticRegistry(entries),
    transports: [transport, ...(options.transports ?? [])],
    adapters: options.adapters,
    waitBindings: options.waitBindings,
  };
}

/** The liveness of a store only this environment uses: its own node, nobody else's. */
function singleNodeLiveness(): NonNullable<CoordinatorOptions['liveness']> {
  const joined = new Set<string>();
  return {
    seesOtherNodes: false,
    join: async (nodeId) => Boolean(joined.add(nodeId)),
    holds: (nodeId) => joined.has(nodeId),
    leave: async (nodeId) => void joined.delete(nodeId),
    deadAmong: async () => undefined,
    retry: async () => undefined,
    close: async () => joined.clear(),
  };
}

/** An answer as the coordinator receives it. */
export function toMessage(answer: TestAnswer): InboundMessage {
  const service = answer.call?.service;
  return {
    event: answer.event,
    payload: answer.payload ?? {},
    correlationKey: answer.correlationKey ?? answer.call?.correlationKey,
    businessKey: answer.businessKey,
    messageId: answer.messageId,
    source: service ? `in-process:${service}` : 'test',
    sender: answer.sender ?? (service ? `in-process:${service}` : 'test'),
  };
}

function isFlowStepLine(detail: unknown): boolean {
  return (
    typeof detail === 'object' &&
    detail !== null &&
    typeof (detail as { step?: unknown }).step === 'string'
  );
}
