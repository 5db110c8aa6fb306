import { ReferenceEngine } from '@psi/engines';
import { describeEngineConformance } from '@psi/engines/testing';
import { inProcessWiring } from './conformance/in-process-wiring';
import { referenceConformanceProcesses } from './conformance/reference.processes';

describeEngineConformance('reference engine', {
  wiring: inProcessWiring,
  createEngine(repository) {
    const engine = new ReferenceEngine({
      definitions: Object.values(referenceConformanceProcesses),
      stateRepository: repository,
    });
    return {
      engine,
      start: (process, variables) =>
        engine.start(referenceConformanceProcesses[process].id, variables),
      restore: () => engine.restore(),
      stop: () => engine.stop(),
    };
  },
});
