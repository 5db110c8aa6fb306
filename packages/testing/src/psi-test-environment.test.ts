import * as fs from 'node:fs';
import { Input, OnResponse, PsiStore, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { PSI_SERVICE_TAG } from '@psi/engines/xstate';
import { IsString } from 'class-validator';
import { createMachine } from 'xstate';
import { TestingErrorCode } from './errors';
import type { PsiTestEnvironmentOptions } from './environment-options';
import { PsiTestEnvironment } from './psi-test-environment';
import { ScriptedService } from './scripted-service';
import { referenceEngine } from './test-engines';
import { xstateEngine } from './xstate';

const DAY = 86_400_000;

abstract class Fax {
  abstract send(request: { to: string }): Promise<void>;
}

@ServiceAdapter({ step: 'send', service: 'fax' })
class FaxAdapter {
  @Input() @IsString() to!: string;
  @UseService(Fax) fax!: Fax;
  async callService(): Promise<void> {
    await this.fax.send({ to: this.to });
  }
  @OnResponse('fax-sent', {
    waitState: 'await-sent',
    timeoutMs: 60_000,
    timeoutTransition: 'timeout',
  })
  sent(): string {
    return 'sent';
  }
}

// "cool-down" is a timer step of the engine: the same test clock drives it.
const faxProcess = defineProcess({
  id: 'fax',
  start: 'cool-down',
  steps: {
    'cool-down': { kind: 'timer', durationMs: DAY, next: 'send' },
    send: { kind: 'service', next: 'await-sent' },
    'await-sent': { kind: 'wait', transitions: { sent: 'done', timeout: 'timed-out' } },
    done: { kind: 'end' },
    'timed-out': { kind: 'end' },
  },
});

describe(PsiTestEnvironment, () => {
  let env: PsiTestEnvironment | undefined;
  afterEach(async () => {
    await env?.dispose();
    env = undefined;
  });

  async function open(extra: Partial<PsiTestEnvironmentOptions> = {}): Promise<PsiTestEnvironment> {
    env = await PsiTestEnvironment.create({
      adapters: [FaxAdapter],
      engine: referenceEngine([faxProcess]),
      services: { fax: new ScriptedService('fax') },
      ...extra,
    });
    return env;
  }

  /** An instance past its engine timer, waiting at "await-sent". */
  async function waitingFax(e: PsiTestEnvironment): Promise<string> {
    const instanceId = await e.start('fax', { to: '+49 30 1234' });
    await e.clock.advance(DAY);
    await e.whenWaitingAt(instanceId, 'await-sent');
    return instanceId;
  }

  describe('.clock', () => {
    it("moves the engine's timer steps and PSI's deadlines alike", async () => {
      const e = await open();
      const instanceId = await e.start('fax', { to: '+49 30 1234' });
      expect(e.service('fax').calls).toEqual([]);

      await e.clock.advance(DAY);
      expect(e.service('fax').calls).toHaveLength(1);
      await e.clock.advance(60_000);

      const final = await e.whenEnded(instanceId);
      expect(final.history.at(-1)).toBe('timed-out');
      expect(await e.trail(instanceId)).toEqual(expect.arrayContaining(['timed-out']));
    });

    it('expires an answer parked for 7 days into an expired dead letter', async () => {
      const e = await open();
      const parked = await e.answer({ event: 'fax-sent', correlationKey: 'nobody-waits' });
      expect(parked.status).toBe('parked');

      await e.clock.advance(7 * DAY - 1);
      expect(await e.parked()).toHaveLength(1);
      await e.clock.advance(1);

      expect(await e.parked()).toEqual([]);
      expect(await e.deadLetters({ reason: 'expired' })).toHaveLength(1);
    });
  });

  describe('.answerAtDeadline', () => {
    it('on the same tick, the answer PSI sees first wins', async () => {
      const e = await open();
      const answerFirst = await waitingFax(e);
      const call = e.service('fax').lastCall();

      const won = await e.answerAtDeadline(answerFirst, { event: 'fax-sent', call });

      expect(won.status).toBe('delivered');
      expect((await e.whenEnded(answerFirst)).history.at(-1)).toBe('done');
    });

    it('on the same tick, a timeout seen first makes the answer late', async () => {
      const e = await open();
      const timeoutFirst = await waitingFax(e);
      const call = e.service('fax').lastCall();

      const lost = await e.answerAtDeadline(
        timeoutFirst,
        { event: 'fax-sent', call },
        { first: 'timeout' },
      );

      expect(lost).toMatchObject({ status: 'dead-lettered', reason: 'late' });
      expect((await e.whenEnded(timeoutFirst)).history.at(-1)).toBe('timed-out');
    });

    it('refuses an instance that waits for the event without a deadline', async () => {
      const e = await open();
      const instanceId = await e.start('fax', { to: '+49 30 1234' });

      await expect(e.answerAtDeadline(instanceId, { event: 'fax-sent' })).rejects.toMatchObject({
        code: TestingErrorCode.NoDeadline,
      });
    });
  });

  describe('.answerInOrder and .answerTwice', () => {
    it('hands answers over one after another; the same one again is a duplicate', async () => {
      const e = await open();
      const instanceId = await waitingFax(e);
      const call = e.service('fax').lastCall('send');

      const outcomes = await e.answerInOrder([
        { event: 'fax-sent', correlationKey: 'another-fax' },
        { event: 'fax-sent', call },
      ]);
      const [again] = await e.answerTwice({ event: 'fax-sent', correlationKey: 'another-fax' });

      expect(outcomes.map((o) => o.status)).toEqual(['parked', 'delivered']);
      expect(again.status).toBe('duplicate');
      expect((await e.whenEnded(instanceId)).history.at(-1)).toBe('done');
      expect(await e.variables(instanceId)).toEqual({ to: '+49 30 1234' });
    });
  });

  describe('.answerBeforeWaiting', () => {
    it('refuses an answer that would not be early', async () => {
      const e = await open();
      const instanceId = await waitingFax(e);

      await expect(
        e.answerBeforeWaiting(instanceId, 'await-sent', { event: 'fax-sent' }),
      ).rejects.toMatchObject({ code: TestingErrorCode.AlreadyWaiting });
    });
  });

  describe('.waitUntil', () => {
    it('fails naming what it waited for once PSI has nothing left to do', async () => {
      const e = await open({ patienceMs: 50 });
      const instanceId = await e.start('fax', { to: '+49 30 1234' });

      await expect(e.whenWaitingAt(instanceId, 'await-sent')).rejects.toMatchObject({
        code: TestingErrorCode.WaitTimedOut,
        message: expect.stringContaining(`instance ${instanceId} waits at "await-sent"`),
      });
    });
  });

  describe('a service call that never returns', () => {
    it('fails the settle with SettleTimedOutError instead of hanging the test', async () => {
      let letItReturn = (): void => undefined;
      const hanging = new Promise<void>((resolve) => (letItReturn = resolve));
      const e = await open({
        stuckAfterMs: 100,
        services: { fax: new ScriptedService('fax', { send: () => hanging }) },
      });
      const instanceId = await e.start('fax', { to: '+49 30 1234' });

      await expect(e.clock.advance(DAY)).rejects.toMatchObject({
        code: TestingErrorCode.SettleTimedOut,
      });
      expect((await e.invocations(instanceId)).map((i) => i.status)).toEqual(['running']);
      // dispose() closes the coordinator, which waits for the call (as in production).
      letItReturn();
    });
  });

  describe('.restart', () => {
    it('keeps instances, deadlines and the clock over a restart', async () => {
      const e = await open();
      const instanceId = await waitingFax(e);

      await e.restart();
      await e.clock.advance(60_000);

      expect((await e.whenEnded(instanceId)).history.at(-1)).toBe('timed-out');
    });
  });

  describe('option restore', () => {
    /** The order of the engine's restore() and the coordinator's start (it joins liveness). */
    async function orderWith(restore: PsiTestEnvironmentOptions['restore']): Promise<string[]> {
      const calls: string[] = [];
      const reference = referenceEngine([faxProcess]);
      await env?.dispose();
      await open({
        restore,
        engine: (parts) => {
          const engine = reference(parts);
          const original = engine.restore.bind(engine);
          engine.restore = () => (calls.push('restore'), original());
          return engine;
        },
        coordinator: {
          liveness: {
            seesOtherNodes: false,
            join: async () => (calls.push('start'), true),
            holds: () => true,
            leave: async () => undefined,
            deadAmong: async () => undefined,
            retry: async () => undefined,
            close: async () => undefined,
          },
        },
      });
      return calls;
    }

    it("restores after the coordinator starts, before it with 'before-start', or not at all", async () => {
      expect(await orderWith(undefined)).toEqual(['start', 'restore']);
      expect(await orderWith('before-start')).toEqual(['restore', 'start']);
      expect(await orderWith(false)).toEqual(['start']);
    });
  });

  describe('.restart during a backoff', () => {
    it('resumes the retry when the clock reaches it, not before', async () => {
      const fax = new ScriptedService('fax').failNext('send', 1);
      const e = await open({
        services: { fax },
        coordinates: { fax: { retry: { initialDelayMs: 30_000, maxDelayMs: 30_000 } } },
      });
      const instanceId = await e.start('fax', { to: '+49 30 1234' });
      await e.clock.advance(DAY);
      expect(fax.callsOf('send')).toHaveLength(1);

      await e.restart();
      await e.clock.advance(29_999);
      expect(fax.callsOf('send')).toHaveLength(1);
      await e.clock.advance(1);

      expect(fax.callsOf('send')).toHaveLength(2);
      await e.whenWaitingAt(instanceId, 'await-sent');
    });
  });

  describe('.dispose', () => {
    it('deletes the throwaway SQLite file and refuses use afterwards', async () => {
      const e = await open();
      const file = e.store.options.sqlitePath as string;
      expect(fs.existsSync(file)).toBe(true);

      await e.dispose();
      await e.dispose();

      expect(fs.existsSync(file)).toBe(false);
      expect(() => e.coordinator).toThrow(
        expect.objectContaining({ code: TestingErrorCode.Disposed }),
      );
    });
  });

  describe('with the XState plugin', () => {
    const machine = createMachine({
      id: 'reminder',
      initial: 'send',
      states: {
        send: { tags: [PSI_SERVICE_TAG], on: { done: 'await-sent' } },
        'await-sent': {
          on: { sent: 'done', timeout: 'timed-out' },
          after: { 30_000: 'nudged' },
        },
        nudged: { on: { sent: 'done', timeout: 'timed-out' } },
        done: { type: 'final' },
        'timed-out': { type: 'final' },
      },
    });

    it("runs the machine's delayed events on the test clock", async () => {
      const e = await open({ engine: xstateEngine([machine]) });
      const instanceId = await e.start('reminder', { to: '+49 30 1234' });
      await e.whenWaitingAt(instanceId, 'await-sent');

      await e.clock.advance(30_000);

      expect(await e.engine.getWaitStates(instanceId)).toEqual(['nudged']);
    });
  });

  describe('on PostgreSQL', () => {
    it('runs on a fresh schema and drops it at dispose', async () => {
      const e = await open({ store: { kind: 'postgres' } });
      const schema = e.store.options.schema as string;
      const instanceId = await waitingFax(e);
      await e.clock.advance(60_000);
      expect((await e.whenEnded(instanceId)).status).toBe('completed');

      await e.dispose();

      const admin = await PsiStore.open({
        url: process.env.PSI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
        migrate: false,
        poolSize: 1,
      });
      try {
        const rows = (await admin.dataSource.query(
          'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
          [schema],
        )) as unknown[];
        expect(rows).toEqual([]);
      } finally {
        await admin.close();
      }
    });
  });
});
