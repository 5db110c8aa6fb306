import {
  InstanceNotFoundError,
  type EngineEvent,
  type EngineStateIndex,
  type EngineStateRepository,
  type KeyedMutex,
} from '@psi/core';
import { EngineStoppedError } from '../errors';
import type { InstanceSnapshot, InstanceStatus } from './instance-snapshot';
import { EndWaiters } from './end-waiters';
import type { EngineEventHub } from './engine-event-hub';

/** Running instances `restore()` reads and restores at a time. */
export const RESTORE_PAGE = 256;

/** What the lifecycle reads of a plugin's persisted instance (record or state). */
export interface LifecycleRecord {
  readonly instanceId: string;
  readonly status: InstanceStatus;
}

/** The plugin's parts a {@link PluginLifecycle} works with; the plugin keeps owning them. */
export interface PluginLifecycleParts<R extends LifecycleRecord> {
  /** The plugin's name: its engine name in the repository and in EngineStoppedError. */
  name: string;
  repository: EngineStateRepository;
  /** The plugin's per-instance serialisation. */
  mutex: KeyedMutex;
  /** The plugin's listeners and background-failure reporting. */
  events: EngineEventHub;
  /** Reads one instance (from a cache or the repository); `undefined` when there is none. */
  read(instanceId: string): Promise<R | undefined>;
  /** The public view of an instance. */
  toSnapshot(record: R): InstanceSnapshot;
}

/**
 * The lifecycle every PEAL plugin of this package shares, used by composition: the stopped flag,
 * `whenEnded` callers, reading an instance that must exist, restoring every stored instance
 * under its lock, and the order of `stop`. What differs per plugin (records, timers, live
 * engines) stays in the plugin and comes in through {@link PluginLifecycleParts} and callbacks.
 */
export class PluginLifecycle<R extends LifecycleRecord> {
  private readonly endWaiters = new EndWaiters<InstanceSnapshot>();
  private stoppedAlready = false;

  constructor(private readonly parts: PluginLifecycleParts<R>) {}

  /** True once `stop` was called. */
  get stopped(): boolean {
    return this.stoppedAlready;
  }

  /** @throws EngineStoppedError once `stop` was called. */
  assertRunning(): void {
    if (this.stoppedAlready) throw new EngineStoppedError(this.parts.name);
  }

  /** The instance, which must exist. @throws InstanceNotFoundError */
  async require(instanceId: string): Promise<R> {
    const record = await this.parts.read(instanceId);
    if (!record) throw new InstanceNotFoundError(instanceId);
    return record;
  }

  /** Whether the instance ended (PEAL's `isEnded`). @throws InstanceNotFoundError */
  async isEnded(instanceId: string): Promise<boolean> {
    return (await this.require(instanceId)).status !== 'running';
  }

  /** What the repository indexes of a record it saves: whether the instance still runs. */
  static index(record: LifecycleRecord): EngineStateIndex {
    return { running: record.status === 'running' };
  }

  /**
   * Resolves with the final snapshot once the instance ends, at once when it already has.
   * @throws InstanceNotFoundError; EngineStoppedError when the plugin stops first.
   */
  whenEnded(instanceId: string): Promise<InstanceSnapshot> {
    return this.endWaiters.waitFor(instanceId, async () => {
      const record = await this.require(instanceId);
      if (record.status !== 'running') return this.parts.toSnapshot(record);
      if (this.stoppedAlready) throw new EngineStoppedError(this.parts.name);
      return undefined;
    });
  }

  /**
   * After a change was persisted: emits its events, then settles the `whenEnded` callers when
   * the instance ended.
   */
  publish(record: R, events: readonly EngineEvent[]): void {
    this.parts.events.emit(events);
    if (record.status !== 'running') {
      this.endWaiters.settle(record.instanceId, this.parts.toSnapshot(record));
    }
  }

  /**
   * Runs `restoreInstance` for every running instance the repository lists under the plugin's
   * name (its index skips the ended ones, so the cost does not grow with history), a page of
   * `pageSize` ids at a time: a page's instances at once, each under its lock, then the work
   * their events started in the listeners (the coordinator's releases), then the next page.
   * Memory stays flat at any population. One that fails is reported to `onError` and skipped.
   * Does not check `stopped`: the plugin does, where its own `restore` needs it.
   */
  async restoreAll(
    restoreInstance: (instanceId: string) => Promise<void>,
    pageSize = RESTORE_PAGE,
  ): Promise<void> {
    const { mutex, events, repository, name } = this.parts;
    for (let after: string | undefined; ;) {
      const ids = await repository.list(name, { running: true, after, limit: pageSize });
      await Promise.all(
        ids.map((id) =>
          mutex.run(id, () => restoreInstance(id)).catch((error: unknown) => events.report(error)),
        ),
      );
      await events.settled();
      if (ids.length < pageSize) return;
      after = ids[ids.length - 1];
    }
  }

  /**
   * Stops: no event is emitted from now on; `clearTimers` runs, and again once the operations in
   * progress have finished (they may have armed timers meanwhile); then `release` (e.g. live
   * engines), then pending `whenEnded` calls reject with EngineStoppedError.
   */
  async stop(clearTimers: () => void, release?: () => Promise<void>): Promise<void> {
    this.stoppedAlready = true;
    this.parts.events.close();
    clearTimers();
    await this.parts.mutex.idle();
    clearTimers();
    if (release) await release();
    this.endWaiters.rejectAll(new EngineStoppedError(this.parts.name));
  }
}
