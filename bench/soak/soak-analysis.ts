import { EFFECT_TABLE, SCENARIOS, type Scenario } from './soak-protocol';
import type { SoakStore } from './soak-store';

/** An answer the sender produced, as the analysis needs it. */
export interface SentAnswer {
  instanceId: string;
  scenario: Scenario;
  visit: number;
}

/** What the store says at the end of a soak run: the figures the issue asks to be 0 and the rest. */
export interface SoakAnalysis {
  /** Instances that ended, and how (the last step of their history), by scenario. */
  ended: number;
  endings: Record<string, number>;
  /** Answers delivered (one per expectation), and dead letters by reason. */
  delivered: number;
  deadLetters: Record<string, number>;
  /** Handler re-runs with the same delivery id: the documented at-least-once. */
  handlerReruns: number;
  /** Must be 0: instance visits whose handler ran for two deliveries (two delivery ids). */
  doubled: number;
  /** Must be 0: answers the sender got acknowledged that were neither delivered nor dead-lettered. */
  lost: number;
  /** Must be 0: `interrupted` dead letters. */
  interrupted: number;
  /** Must be 0: visits that took the timeout branch although their answer had won. */
  spuriousTimeouts: number;
  /** Must be 0: parked answers, pending timeouts or claims left on ended instances. */
  leftovers: number;
  /** Must be 0: instances that never ended. */
  stuck: number;
  /**
   * Must be 0: service calls for a visit the instance never made (its history has fewer entries
   * of its service step): an invocation of an activation the engine never durably reached.
   */
  orphanSends: number;
  /** Must be 0: invocations still running or waiting on an instance that ended. */
  openInvocations: number;
  /** Dead letters of reasons a soak must not produce (not late / superseded). */
  unexpectedLetters: number;
  /** A few examples of each violation, for a report that fails. */
  examples: Record<string, string[]>;
}

interface InstanceState {
  status: string;
  history: string[];
}

/** Reads the store (and the sender's log) after a soak run. */
export async function analyseSoak(
  store: SoakStore,
  sent: ReadonlyMap<string, SentAnswer>,
  acks: ReadonlyMap<string, readonly string[]>,
): Promise<SoakAnalysis> {
  const examples: Record<string, string[]> = {};
  const example = (what: string, text: string): void => {
    const list = (examples[what] ??= []);
    if (list.length < 5) list.push(text);
  };

  const instances = new Map<string, InstanceState>();
  for (const row of await store.query<{ instanceId: string; state: string }>(
    `SELECT "instanceId", state FROM psi_engine_instance WHERE "instanceId" LIKE 'soak-%'`,
  )) {
    instances.set(row.instanceId, JSON.parse(row.state) as InstanceState);
  }
  const endings: Record<string, number> = {};
  let stuck = 0;
  for (const [id, state] of instances) {
    if (state.status === 'running') {
      stuck++;
      example('stuck', `${id} at ${state.history.at(-1) ?? '?'}`);
      continue;
    }
    const ending = `${scenarioOf(id)}:${state.history.at(-1) ?? state.status}`;
    endings[ending] = (endings[ending] ?? 0) + 1;
  }

  const effects = await store.effects<{
    deliveryId: string;
    instanceId: string;
    visit: number;
    runs: number;
  }>(`SELECT "deliveryId", "instanceId", visit, runs FROM ${EFFECT_TABLE}`);
  const deliveriesPerVisit = new Map<string, Set<string>>();
  let handlerReruns = 0;
  for (const effect of effects) {
    const visit = `${effect.instanceId}#${effect.visit}`;
    deliveriesPerVisit.set(
      visit,
      (deliveriesPerVisit.get(visit) ?? new Set()).add(effect.deliveryId),
    );
    handlerReruns += Number(effect.runs) - 1;
  }
  let doubled = 0;
  for (const [visit, ids] of deliveriesPerVisit) {
    if (ids.size > 1) {
      doubled++;
      example('doubled', `${visit}: ${[...ids].join(', ')}`);
    }
  }

  const deliveredMessages = new Set<string>();
  const deliveredRows = await store.query<{ detail: string | null }>(
    `SELECT detail FROM psi_audit WHERE kind = 'delivered' AND "instanceId" LIKE 'soak-%'`,
  );
  for (const row of deliveredRows) {
    const messageId = row.detail
      ? (JSON.parse(row.detail) as { messageId?: string }).messageId
      : undefined;
    if (messageId) deliveredMessages.add(messageId);
  }
  const letters = await store.query<{
    messageId: string;
    reason: string;
    instanceId: string | null;
  }>('SELECT "messageId", reason, "instanceId" FROM psi_dead_letter');
  const deadLetters: Record<string, number> = {};
  const letteredMessages = new Set<string>();
  let unexpectedLetters = 0;
  for (const letter of letters) {
    deadLetters[letter.reason] = (deadLetters[letter.reason] ?? 0) + 1;
    letteredMessages.add(letter.messageId);
    if (letter.reason !== 'late' && letter.reason !== 'superseded') {
      unexpectedLetters++;
      example('unexpected letters', `${letter.reason}: ${letter.messageId}`);
    }
  }

  let lost = 0;
  for (const [messageId, answer] of sent) {
    if (deliveredMessages.has(messageId) || letteredMessages.has(messageId)) continue;
    // Every answer is retried until acknowledged: one that is neither delivered nor kept is lost.
    lost++;
    example(
      'lost',
      `${messageId} (${answer.instanceId}, acks: ${(acks.get(messageId) ?? []).join('/')})`,
    );
  }

  // A visit that took the timeout branch although its answer won: its handler ran, or its
  // answer was acknowledged delivered or parked (a parked answer wins over the deadline).
  const wonVisits = new Set<string>();
  for (const [messageId, answer] of sent) {
    const outcomes = acks.get(messageId) ?? [];
    if (outcomes.includes('delivered') || outcomes.includes('parked'))
      wonVisits.add(`${answer.instanceId}#${answer.visit}`);
  }
  let spuriousTimeouts = 0;
  for (const [id, state] of instances) {
    if (state.history.at(-1) !== 'timed-out') continue;
    const visit = `${id}#${visitsOf(state)}`;
    if (scenarioOf(id) !== 'race' || deliveriesPerVisit.has(visit) || wonVisits.has(visit)) {
      spuriousTimeouts++;
      example('spurious timeouts', `${visit} (${scenarioOf(id)})`);
    }
  }

  const ended = [...instances.values()].filter((s) => s.status !== 'running').length;
  const endedIds = [...instances.entries()]
    .filter(([, s]) => s.status !== 'running')
    .map(([id]) => id);
  const endedSet = new Set(endedIds);
  let leftovers = 0;
  for (const row of await store.query<{ instanceId: string | null; what: string }>(
    `SELECT "instanceId", 'parked' AS what FROM psi_parked_message
     UNION ALL SELECT "instanceId", 'pending timeout' FROM psi_expectation WHERE "timeoutPending" = ${store.params.kind === 'postgres' ? 'true' : '1'}
     UNION ALL SELECT "instanceId", 'claimed' FROM psi_expectation WHERE status = 'claimed'
     UNION ALL SELECT "instanceId", 'open expectation' FROM psi_expectation WHERE status = 'open'`,
  )) {
    if (row.instanceId !== null && !endedSet.has(row.instanceId)) continue;
    leftovers++;
    example('leftovers', `${row.what} of ${row.instanceId ?? 'no instance'}`);
  }

  // A call for a visit past the last one the engine recorded: an orphan invocation ran (the
  // answer it drew is dead-lettered late at best, or taken at a later visit of the wait state).
  let orphanSends = 0;
  for (const [messageId, answer] of sent) {
    const state = instances.get(answer.instanceId);
    if (!state || state.status === 'running' || answer.visit <= visitsOf(state)) continue;
    orphanSends++;
    example(
      'orphan sends',
      `${answer.instanceId} visit ${answer.visit} of ${visitsOf(state)} (${messageId})`,
    );
  }
  let openInvocations = 0;
  for (const row of await store.query<{ id: string; instanceId: string; status: string }>(
    `SELECT id, "instanceId", status FROM psi_invocation WHERE status IN ('running', 'waiting')`,
  )) {
    if (!endedSet.has(row.instanceId)) continue;
    openInvocations++;
    example('open invocations', `${row.id} of ${row.instanceId}: ${row.status}`);
  }

  return {
    ended,
    orphanSends,
    openInvocations,
    endings,
    delivered: deliveredRows.length,
    deadLetters,
    handlerReruns,
    doubled,
    lost,
    interrupted: deadLetters.interrupted ?? 0,
    spuriousTimeouts,
    leftovers,
    stuck,
    unexpectedLetters,
    examples,
  };
}

function scenarioOf(instanceId: string): Scenario {
  return SCENARIOS[Number(instanceId.slice('soak-'.length)) % SCENARIOS.length];
}

/** The visit an instance's last wait belonged to: how often it entered its service step. */
function visitsOf(state: InstanceState): number {
  return state.history.filter((step) => step.endsWith('-call')).length;
}
