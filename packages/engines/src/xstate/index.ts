/**
 * `@psi/engines/xstate`: the XState plugin — XState v5 machines as PSI processes (service states
 * tagged `psi-service`, wait states answered through the coordinator, timers kept in PSI's store).
 * `xstate` is an optional peer dependency (`npm install xstate@^5`), loaded when the plugin is
 * built; this entry point is separate because its types name xstate's, so that users of the
 * other engines need neither xstate nor its types.
 *
 * @example
 * import { XStatePlugin } from '@psi/engines/xstate';
 *
 * const engine = new XStatePlugin({ definitions: [procurementMachine], stateRepository: store.engineStates() });
 * const coordinator = await Coordinator.create({ store, engine, registry, transports, adapters });
 * await coordinator.start();
 * await engine.restore();
 *
 * @module
 */
export { XStatePlugin } from './xstate-plugin';
export type { XStatePluginOptions, XStateStartOptions } from './xstate-plugin-options';
export { PSI_SERVICE_TAG, PSI_FAULT_EVENT_PREFIX } from './xstate-definition';
export type { XStateProcessDefinition } from './xstate-definition';
export type {
  XStateInstanceRecord,
  XStateTimer,
  XStatePersistedSnapshot,
} from './xstate-instance-record';
