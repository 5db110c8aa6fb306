import type { EngineTimers } from './engine-timers';

/** The timers one instance can have armed at once. */
export type TimerSlot = 'step' | 'sla';

/** A timer an instance should have armed: `key` identifies it, so an unchanged timer is kept. */
export interface WantedTimer {
  key: string;
  /** Epoch ms; a past due time fires as soon as the timer functions allow. */
  dueAt: number;
  /** Returns the work it started (never rejecting), for timer functions that wait for it. */
  fire: () => void | Promise<void>;
}

interface ArmedTimer {
  key: string;
  handle: unknown;
}

/**
 * Keeps the armed timers of every instance in line with its state (the reference engine's timer
 * step and SLA; the XState plugin's delayed events, one slot per send id): after each change the
 * engine says which timers it wants, and only the differences are cleared or armed.
 */
export class InstanceTimers<Slot extends string = TimerSlot> {
  private readonly armed = new Map<string, Map<Slot, ArmedTimer>>();

  constructor(
    private readonly timers: EngineTimers,
    private readonly clock: () => number,
  ) {}

  /** Arms `wanted` in `slot` unless the same key is armed already; clears the slot when undefined. */
  sync(instanceId: string, slot: Slot, wanted: WantedTimer | undefined): void {
    const slots = this.armed.get(instanceId) ?? new Map<Slot, ArmedTimer>();
    const current = slots.get(slot);
    if (current && current.key === wanted?.key) return;
    if (current) {
      this.timers.clearTimeout(current.handle);
      slots.delete(slot);
    }
    if (wanted) {
      const armed: ArmedTimer = { key: wanted.key, handle: undefined };
      armed.handle = this.timers.setTimeout(
        () => {
          if (slots.get(slot) === armed) slots.delete(slot);
          return wanted.fire();
        },
        Math.max(0, wanted.dueAt - this.clock()),
      );
      slots.set(slot, armed);
    }
    if (slots.size > 0) this.armed.set(instanceId, slots);
    else this.armed.delete(instanceId);
  }

  /** Arms exactly the timers in `wanted` (by slot) for the instance, clearing its other slots. */
  syncAll(instanceId: string, wanted: ReadonlyMap<Slot, WantedTimer>): void {
    for (const slot of [...(this.armed.get(instanceId)?.keys() ?? [])]) {
      if (!wanted.has(slot)) this.sync(instanceId, slot, undefined);
    }
    for (const [slot, timer] of wanted) this.sync(instanceId, slot, timer);
  }

  /** Clears every timer of every instance. */
  clearAll(): void {
    for (const slots of this.armed.values()) {
      for (const { handle } of slots.values()) this.timers.clearTimeout(handle);
    }
    this.armed.clear();
  }

  /** How many timers are armed, over all instances. */
  get size(): number {
    let size = 0;
    for (const slots of this.armed.values()) size += slots.size;
    return size;
  }
}
