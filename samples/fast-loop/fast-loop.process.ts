import { defineProcess, EngineFaultCode, type ProcessDefinition } from '@psi/engines';

/** The loop that catches "too long": the SLA fault leads to `too-long`, then `gave-up`. */
export const FAST_LOOP = 'fast-loop';
/** The same loop without a catch: an instance that runs too long is aborted. */
export const FAST_LOOP_STRICT = 'fast-loop-strict';

/**
 * The producer/handler loop: `produce` (a script) makes the next item, `handle` (a service step
 * PSI serves with `HandleItemAdapter`) hands it to the handler service and chooses `more` or
 * `done`. The "too long" timer is the instance's SLA (`start(…, { slaMs })`): when it expires,
 * the engine raises `PSI_SLA_EXCEEDED` wherever the instance rests, typically in `handle` while a
 * slow handler works.
 */
function loopDefinition(id: string, catchTooLong: boolean): ProcessDefinition {
  return defineProcess({
    id,
    start: 'produce',
    faults: catchTooLong ? { [EngineFaultCode.SlaExceeded]: 'too-long' } : undefined,
    steps: {
      produce: {
        kind: 'script',
        run: (vars) => {
          const item = Number(vars.item ?? 0) + 1;
          return { item, payload: `${String(vars.loop)}#${item}` };
        },
        next: 'handle',
      },
      handle: { kind: 'service', transitions: { more: 'produce', done: 'done' } },
      'too-long': {
        kind: 'script',
        // The item the handler was busy with when the deadline passed was not handled.
        run: (vars) => ({ tooLong: true, abandonedItem: vars.item }),
        next: 'gave-up',
      },
      done: { kind: 'end' },
      'gave-up': { kind: 'end' },
    },
  });
}

export const fastLoopProcess = loopDefinition(FAST_LOOP, true);
export const fastLoopStrictProcess = loopDefinition(FAST_LOOP_STRICT, false);
