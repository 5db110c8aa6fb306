import {
  operatorEntry,
  skipped,
  StoreActions,
  type ActionExecutor,
  type OperationContext,
} from '../operations/action-executor';
import { OperationRunner } from '../operations/operation-runner';
import { PsiOperations } from '../operations/psi-operations';
import type { CompiledCoordinatorOptions } from './coordinator-options';
import type { FlowSignals } from './flow-signals';
import { describe } from './describe-error';
import type { ItemOutcome, OperatorAction, OperatorContext } from '../operations/operation-types';
import { parkedAnswerBySeq, takeOutParkedAnswer } from '../records/parked-answers';
import { InvocationNotFrozenError, PsiError, PsiErrorCode } from '../errors';
import type { InboundMessage, ReceiveOutcome } from '../spi/transport';
import type { AuditLog } from '../records/audit-log';
import type { Correlator } from '../correlation/correlator';
import type { DeadLetter, DeadLetterQueue } from '../records/dead-letters';
import { replayMessageId } from '../correlation/dead-letter-replay';
import { traceHeadersOf } from '../observability/trace-context';
import type { Invoker } from '../invocation/invoker';
import { messageFromParked } from '../correlation/received-message';
import type { TaskTracker } from './task-tracker';

/** Who acts when code calls the coordinator's dead-letter API or `thaw` without saying. */
export const APPLICATION: OperatorContext = { actor: 'application', reason: '', channel: 'api' };

export interface OperatorActionsDeps {
  audit: AuditLog;
  deadLetters: DeadLetterQueue;
  correlator: Correlator;
  invoker: Invoker;
  storeActions: StoreActions;
  tasks: TaskTracker;
  /** The coordinator's `receive` (refuses once it closed). */
  receive(message: InboundMessage): Promise<ReceiveOutcome>;
  /** Whether this node's engine has the instance; else the other nodes are told. */
  signals: FlowSignals;
}

/** What a replay did: the letter was not open, or it was correlated again. */
export type ReplayResult =
  | { replayed: false; letter: DeadLetter }
  | { replayed: true; letter: DeadLetter; outcome: ReceiveOutcome };

/**
 * The operator actions that need the runtime (adapters, engine, correlation): replay a dead
 * letter, thaw a frozen invocation, release a parked answer now, inject an answer. With the
 * store-only ones (StoreActions) this is what a coordinator's operation runner carries out; the
 * coordinator's own dead-letter API and `thaw` go through the same code.
 */
export class OperatorActions implements ActionExecutor {
  readonly actions: readonly OperatorAction[] = [
    'replay',
    'discard',
    'thaw',
    'release-guard',
    'release-parked',
    'expire-parked',
    'inject',
  ];

  constructor(private readonly deps: OperatorActionsDeps) {}

  async execute(
    action: OperatorAction,
    target: string,
    context: OperationContext,
    resumed: boolean,
  ): Promise<ItemOutcome> {
    switch (action) {
      case 'replay':
        return replayOutcome(await this.replay(target, context), resumed);
      case 'thaw':
        return this.thaw(target, context);
      case 'release-parked':
        return this.releaseParked(target, context, resumed);
      case 'inject':
        return this.inject(context);
      default:
        return this.deps.storeActions.execute(action, target, context);
    }
  }

  /**
   * Correlates a dead letter again, then records on the letter what that became (with the audit
   * entry). Received first and resolved after, so a crash in between leaves the letter open: a
   * replay resumed or repeated later is received under the same message id and sender, and
   * dedupe answers `duplicate` instead of delivering twice. DeadLetterNotFoundError for an
   * unknown id; a letter that is not open is not replayed (`replayed: false`).
   */
  async replay(id: string, context: OperationContext): Promise<ReplayResult> {
    const letter = await this.deps.deadLetters.get(id);
    if (letter.status !== 'open') return { replayed: false, letter };
    const outcome = await this.deps.receive({
      messageId: replayMessageId(letter),
      sender: 'psi:replay',
      event: letter.event,
      correlationKey: letter.correlationKey,
      businessKey: letter.businessKey
        ? Object.fromEntries(JSON.parse(letter.businessKey) as Array<[string, string]>)
        : undefined,
      payload: letter.payload,
      source: `replay:${letter.source ?? 'unknown'}`,
      // The replay's receive span hangs under the letter's: the trace shows the answer's history.
      traceHeaders: traceHeadersOf({
        traceParent: letter.traceParent ?? null,
        traceState: letter.traceState ?? null,
      }),
    });
    const recorded = await this.deps.audit.transaction(async (tx, write) => {
      if (!(await this.deps.deadLetters.resolve(tx, id, 'replayed', outcome))) return false;
      await write(
        operatorEntry(
          'replayed',
          context,
          { instanceId: letter.instanceId },
          {
            deadLetterId: id,
            event: letter.event,
            deadLetterReason: letter.reason,
            outcome: outcome.status,
          },
        ),
      );
      return true;
    });
    // Replayed or discarded meanwhile by another call: report the letter as it is now.
    if (!recorded) return { replayed: false, letter: await this.deps.deadLetters.get(id) };
    return { replayed: true, letter, outcome };
  }

  /** Makes a frozen invocation run again; the run goes on in the background. */
  private async thaw(id: string, context: OperationContext): Promise<ItemOutcome> {
    try {
      await this.deps.invoker.unfreeze(id, context.by);
    } catch (error) {
      if (
        error instanceof InvocationNotFrozenError ||
        isCode(error, PsiErrorCode.InvocationNotFrozen)
      )
        return skipped(`not frozen (${(error as InvocationNotFrozenError).status})`);
      throw error;
    }
    this.deps.tasks.track(`thawed invocation ${id}`, () => this.deps.invoker.run(id));
    return { status: 'succeeded', message: 'thawed: running again' };
  }

  /**
   * Releases a parked answer now: one waiting for its instance is delivered if the instance is
   * at the wait state (by this node, or by the node whose engine has it, which is told); one
   * that came before any expectation is correlated again (it may match one now).
   */
  private async releaseParked(
    target: string,
    context: OperationContext,
    resumed: boolean,
  ): Promise<ItemOutcome> {
    const seq = /^\d+$/.test(target) ? Number(target) : NaN;
    const row = Number.isNaN(seq)
      ? null
      : await this.deps.audit.transaction((tx) => parkedAnswerBySeq(tx, seq));
    if (!row) {
      return resumed
        ? { status: 'succeeded', message: 'released (before a restart)' }
        : skipped('no longer parked (delivered or expired)');
    }
    const audit = (detail: Record<string, unknown>) =>
      this.deps.audit.transaction(async (_tx, write) =>
        write(
          operatorEntry(
            'parked-released',
            context,
            { instanceId: row.instanceId },
            {
              parkedId: target,
              event: row.event,
              messageId: row.messageId,
              ...detail,
            },
          ),
        ),
      );
    if (row.instanceId === null) {
      const taken = await this.deps.audit.transaction((tx) => takeOutParkedAnswer(tx, seq));
      if (!taken) return skipped('no longer parked (delivered or expired)');
      const message = messageFromParked(taken);
      const outcome = await this.deps.receive({
        messageId: `${taken.messageId}#release-${target}`,
        event: message.event,
        correlationKey: message.correlationKey ?? undefined,
        payload: message.payload,
        source: taken.source ?? undefined,
      });
      await audit({ outcome });
      return {
        status: 'succeeded',
        message: `correlated again: ${outcome.status}`,
        receive: outcome,
      };
    }
    const instanceId = row.instanceId;
    const states = await this.deps.signals.waitStatesHere(instanceId);
    if (states === undefined) {
      this.deps.signals.announce(instanceId);
      await audit({ announced: true });
      return {
        status: 'succeeded',
        message: 'this node does not have the instance: the other nodes were told',
        instanceId,
      };
    }
    await this.deps.correlator.release(instanceId);
    const still = await this.deps.audit.transaction((tx) => parkedAnswerBySeq(tx, seq));
    await audit({ released: still === null });
    if (still) {
      return skipped(
        `still parked: instance is at ${states.length ? states.map((s) => `"${s}"`).join(', ') : 'no wait state'}`,
        instanceId,
      );
    }
    return { status: 'succeeded', message: 'released', instanceId };
  }

  /** Hands an operator's answer to PSI as if a transport had. */
  private async inject(context: OperationContext): Promise<ItemOutcome> {
    const message = context.message;
    if (!message) throw new Error('inject without a message');
    const messageId = message.messageId ?? `operator:${context.operationId ?? Date.now()}`;
    const outcome = await this.deps.receive({
      messageId,
      event: message.event,
      correlationKey: message.correlationKey,
      businessKey: message.businessKey,
      payload: message.payload,
      source: `operator:${context.by.actor}`,
    });
    const instanceId =
      outcome.status === 'delivered' || outcome.status === 'parked'
        ? outcome.instanceId
        : undefined;
    await this.deps.audit.transaction(async (_tx, write) =>
      write(
        operatorEntry(
          'injected',
          context,
          { instanceId },
          { event: message.event, messageId, outcome },
        ),
      ),
    );
    return {
      status: 'succeeded',
      message: `injected: ${outcome.status}`,
      instanceId,
      receive: outcome,
    };
  }
}

/**
 * A coordinator's operator side: its actions, the runner that carries out action runs on this
 * node, and the operations API whose submissions wake that runner at once.
 */
export class OperatorDesk {
  readonly storeActions: StoreActions;
  readonly actions: OperatorActions;
  readonly runner: OperationRunner;
  private operations: PsiOperations | undefined;

  constructor(
    private readonly options: CompiledCoordinatorOptions,
    deps: Omit<OperatorActionsDeps, 'storeActions'>,
  ) {
    this.storeActions = new StoreActions(deps.audit, deps.deadLetters, options.clock);
    this.actions = new OperatorActions({ ...deps, storeActions: this.storeActions });
    this.runner = new OperationRunner({
      store: options.store,
      executor: this.actions,
      nodeId: options.nodeId,
      leaseMs: options.leaseMs,
      pollMs: options.operations.pollMs,
      onError: (error, what) => options.logger.error({ err: describe(error) }, `${what} failed`),
    });
  }

  get api(): PsiOperations {
    this.operations ??= new PsiOperations(this.options.store, {
      clock: this.options.clock,
      wake: () => this.runner.wake(),
    });
    return this.operations;
  }
}

function replayOutcome(result: ReplayResult, resumed: boolean): ItemOutcome {
  const instanceId = result.letter.instanceId;
  if (!result.replayed) {
    // The node that started this item replayed the letter, then died before settling the item.
    if (resumed && result.letter.status === 'replayed') {
      return {
        status: 'succeeded',
        message: 'already replayed before a restart',
        instanceId,
        ...(result.letter.replayOutcome ? { receive: result.letter.replayOutcome } : {}),
      };
    }
    return skipped(`not open (${result.letter.status})`, instanceId);
  }
  const outcome = result.outcome;
  const message =
    outcome.status === 'delivered'
      ? `delivered to instance ${outcome.instanceId}`
      : outcome.status === 'parked'
        ? 'parked: waiting for its instance'
        : outcome.status === 'duplicate'
          ? 'already replayed before a restart'
          : outcome.status === 'started'
            ? `started instance ${outcome.instanceId} (${outcome.definitionId})`
            : `dead-lettered again (${outcome.reason}) as ${outcome.deadLetterId}`;
  return {
    status: 'succeeded',
    message,
    instanceId:
      outcome.status === 'delivered' || outcome.status === 'started'
        ? outcome.instanceId
        : instanceId,
    receive: outcome,
  };
}

function isCode(error: unknown, code: string): boolean {
  return PsiError.is(error) && error.code === code;
}
