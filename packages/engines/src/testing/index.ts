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
export type {
  ConformanceEngine,
  ConformanceOperation,
  ConformanceOperations,
  ConformanceWiring,
  EngineConformanceHarness,
  ServiceCall,
} from './conformance-world';
