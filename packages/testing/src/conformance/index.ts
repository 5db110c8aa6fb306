/**
 * `@psi/testing/conformance`: the PEAL conformance suite every engine plugin passes, run through
 * the real coordinator in a `PsiTestEnvironment` (throwaway store, test clock). Its own entry
 * point because it calls jest's `describe`/`it`.
 *
 * @example
 * ```ts
 * import { referenceEngine } from '@psi/testing';
 * import { describeEngineConformance } from '@psi/testing/conformance';
 *
 * describeEngineConformance('reference engine', {
 *   engine: referenceEngine(myConformanceProcesses),
 *   processes: { order: 'my-order', page: 'my-page', dispatch: 'my-dispatch', notice: 'my-notice' },
 * });
 * ```
 *
 * @module
 */
export { describeEngineConformance } from './engine-conformance';
export {
  ConformanceNames,
  ConformanceServices,
  PAGE_TIMEOUT_MS,
  conformanceAdapters,
  conformanceWaitBindings,
  NoticeWait,
  PlaceOrderAdapter,
  BookOrderAdapter,
  PageAdapter,
  DispatchAdapter,
  ConformanceSupplier,
  ConformanceErp,
  ConformancePager,
  ConformanceCourier,
} from './conformance-adapters';
export type { ConformanceProcess, Notice, OrderConfirmation } from './conformance-adapters';
export { ConformanceServiceDoubles, ConformanceWorld } from './conformance-world';
export type { ConformanceServiceCall, EngineConformanceHarness } from './conformance-world';
