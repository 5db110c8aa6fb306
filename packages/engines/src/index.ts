export { ReferenceEngine } from './reference-engine';
export type { ReferenceEngineOptions, StartOptions } from './reference-engine-options';
export { defineProcess, validateProcessDefinition } from './define-process';
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
} from './process-definition';
export type { InstanceSnapshot, InstanceStatus, InstanceFault } from './instance-snapshot';
export { EngineFaultCode } from './engine-fault-code';
export { globalEngineTimers } from './engine-timers';
export type { EngineTimers } from './engine-timers';
export { ManualTimers } from './manual-timers';
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
} from './errors';
export { BpmnEnginePlugin, PSI_TRANSITION_VARIABLE } from './bpmn/bpmn-engine-plugin';
export type {
  BpmnEnginePluginOptions,
  BpmnProcessSource,
  BpmnStartOptions,
} from './bpmn/bpmn-engine-plugin';
export type { BpmnInstanceRecord, BpmnWaitPoint } from './bpmn/bpmn-instance-record';
export { XStatePlugin } from './xstate/xstate-plugin';
export type { XStatePluginOptions, XStateStartOptions } from './xstate/xstate-plugin-options';
export { PSI_SERVICE_TAG, PSI_FAULT_EVENT_PREFIX } from './xstate/xstate-definition';
export type { XStateProcessDefinition } from './xstate/xstate-definition';
export type {
  XStateInstanceRecord,
  XStateTimer,
  XStatePersistedSnapshot,
} from './xstate/xstate-instance-record';
