import { createHash } from 'node:crypto';
import type { InProcessService } from '@psi/adapters';
import type { HandledItem } from './handle-item.adapter';

export interface ItemHandlerOptions {
  /** Whether the handler is deliberately slow for this item of this loop. @default never */
  isSlow?: (loop: string, item: number) => boolean;
  /** How long a slow call takes unless released earlier. @default 60_000 */
  slowMs?: number;
}

/** The handler service of the fast loop, and the handle to end its slow calls. */
export interface ItemHandler {
  service: InProcessService;
  /** Lets every slow call still in progress answer now (its answer comes too late to count). */
  releaseSlowCalls(): void;
  /** How many slow calls were started. */
  readonly slowCalls: number;
}

/**
 * An in-process handler: `handle` answers each item synchronously with a short digest of its
 * payload. For the items `isSlow` names it takes `slowMs` first, or until `releaseSlowCalls()`,
 * which is how a test makes sure the "too long" deadline passes while the handler works.
 */
export function createItemHandler(options: ItemHandlerOptions = {}): ItemHandler {
  const slowMs = options.slowMs ?? 60_000;
  const waiting = new Set<() => void>();
  let slowCalls = 0;
  const service: InProcessService = {
    handle: async (payload): Promise<HandledItem> => {
      const {
        loop,
        item,
        payload: text,
      } = payload as {
        loop: string;
        item: number;
        payload: string;
      };
      if (options.isSlow?.(loop, item)) {
        slowCalls++;
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            waiting.delete(done);
            resolve();
          };
          const timer = setTimeout(done, slowMs);
          waiting.add(done);
        });
      }
      return { item, result: createHash('sha256').update(text).digest('hex').slice(0, 12) };
    },
  };
  return {
    service,
    releaseSlowCalls: () => {
      for (const done of [...waiting]) done();
    },
    get slowCalls() {
      return slowCalls;
    },
  };
}
