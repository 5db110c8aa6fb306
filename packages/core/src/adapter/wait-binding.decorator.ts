import { injectable } from 'inversify';
import { WAIT_BINDING_KEY } from './metadata-keys';

/**
 * Marks a class as a wait binding: its `@OnResponse` handlers take the answers of wait states no
 * service call comes before (a BPMN receive task, user task or message catch event; a wait
 * step of the reference engine; an XState state). Each handler names its `waitState` and says
 * what the model does not: how the answer is correlated (`businessKey` from the instance's
 * variables, or the instance id as correlation key), its payload DTO, a `timeoutMs` and what the
 * answer writes (`@Output`) and which transition it takes. PSI records the expectation when the
 * engine reports the wait state entered; answers then go through `receive` with the same
 * parking, dedupe, dead letters and races as an adapter's. Register it in the coordinator's
 * `waitBindings`; the class is built by the coordinator's inversify container.
 *
 * ```ts
 * @WaitBinding()
 * class CancellationWait {
 *   @Output() cancelledBy?: string;
 *   @OnResponse('order-cancelled', { waitState: 'await-payment', businessKey: { orderNumber: 'orderNumber' } })
 *   cancelled(answer: { by: string }): string { this.cancelledBy = answer.by; return 'cancelled'; }
 * }
 * ```
 */
export function WaitBinding(): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(WAIT_BINDING_KEY, true, target);
    injectable()(target as unknown as abstract new (...args: never[]) => unknown);
  };
}
