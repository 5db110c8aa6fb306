import type { Variables } from '@psi/core';

/** Lifecycle of an instance: `running` until it reaches an end step, is aborted by an uncaught fault, or a script fails. */
export type InstanceStatus = 'running' | 'completed' | 'aborted' | 'failed';

/** A fault as recorded on an instance: a stable code and a readable message. */
export interface InstanceFault {
  code: string;
  message: string;
}

/** What `getInstance` and `whenEnded` return: a copy of one instance's state at one moment. */
export interface InstanceSnapshot {
  instanceId: string;
  definitionId: string;
  status: InstanceStatus;
  /** Service and wait steps the instance can be signalled at; empty at a timer step or once ended. */
  waitStates: string[];
  /** The step the instance rests at (service, wait or timer step); absent once ended. */
  currentStep?: string;
  variables: Variables;
  /** Every step entered, in order, the start step first. */
  history: string[];
  /** Why the instance ended `aborted` or `failed`. */
  fault?: InstanceFault;
}
