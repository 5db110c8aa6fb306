/**
 * `@psi/engines`: PEAL plugins, the engines PSI's coordinator drives. The reference engine
 * (processes defined in TypeScript) needs nothing more; `BpmnEnginePlugin` needs `bpmn-engine`
 * installed, and `XStatePlugin` (its own entry point, `@psi/engines/xstate`, whose types name
 * xstate's) needs `xstate` (optional peer dependencies, loaded when the plugin is built). Each keeps its instances in an `EngineStateRepository` (PSI's store:
 * `store.engineStates()`), so waiting instances survive restarts.
 *
 * ```ts
 * import { BpmnEnginePlugin } from '@psi/engines';
 *
 * const engine = new BpmnEnginePlugin({ definitions: [xml], stateRepository: store.engineStates() });
 * const coordinator = await Coordinator.create({ store, engine, registry, transports, adapters });
 * await coordinator.start();
 * await engine.restore();
 * const id = await engine.start('order-process', { orderNumber: 'PO-1' });
 * ```
 *
 * The conformance suite every plugin passes is `@psi/testing/conformance`.
 */
export { ReferenceEngine } from './reference/reference-engine';
export type { ReferenceEngineOptions, StartOptions } from './reference/reference-engine-options';
export { defineProcess, validateProcessDefinition } from './reference/define-process';
export type {
  ProcessDefinition,
  StepDefinition,
  StepTargets,
  ScriptStep,
  ServiceStep,
  WaitStep,
  TimerStep,
  EndStep,
  RestingStepKind,
} from './reference/process-definition';
export type { InstanceSnapshot, InstanceStatus, InstanceFault } from './shared/instance-snapshot';
export { EngineFaultCode } from './shared/engine-fault-code';
export { globalEngineTimers } from './shared/engine-timers';
export type { EngineTimers } from './shared/engine-timers';
export { ManualTimers } from './shared/manual-timers';
export {
  EngineErrorCode,
  ProcessDefinitionError,
  ProcessDefinitionUnknownError,
  TransitionUnknownError,
  TransitionRefusedError,
  InstanceExistsError,
  EngineStateError,
  EngineStoppedError,
  VariablesInvalidError,
  StartOptionsInvalidError,
  EngineDependencyMissingError,
  InstanceStalledError,
  MessageStartUnknownError,
} from './errors';
export { BpmnEnginePlugin } from './bpmn/bpmn-engine-plugin';
export { PSI_TRANSITION_VARIABLE } from './bpmn/bpmn-signals';
export type {
  BpmnEnginePluginOptions,
  BpmnProcessSource,
  BpmnStartOptions,
  BpmnServiceTaskInfo,
} from './bpmn/bpmn-plugin-options';
export type { BpmnInstanceRecord, BpmnWaitPoint } from './bpmn/bpmn-instance-record';
