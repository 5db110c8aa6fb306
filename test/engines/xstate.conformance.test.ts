import { XStatePlugin } from '@psi/engines/xstate';
import { describeEngineConformance } from '@psi/engines/testing';
import { inProcessWiring } from './conformance/in-process-wiring';
import { xstateConformanceMachines } from './conformance/xstate.machines';

describeEngineConformance('xstate plugin', {
  wiring: inProcessWiring,
  createEngine(repository) {
    const engine = new XStatePlugin({
      definitions: Object.values(xstateConformanceMachines),
      stateRepository: repository,
    });
    return {
      engine,
      start: (process, variables) => engine.start(xstateConformanceMachines[process].id, variables),
      restore: () => engine.restore(),
      stop: () => engine.stop(),
    };
  },
});
