import * as fs from 'node:fs';
import * as path from 'node:path';
import { BpmnEnginePlugin } from '@psi/engines';
import { describeEngineConformance, type ConformanceProcess } from '@psi/engines/testing';
import { inProcessWiring } from './conformance/in-process-wiring';

const processes: Record<ConformanceProcess, string> = {
  order: 'conformance-order',
  page: 'conformance-page',
  dispatch: 'conformance-dispatch',
  notice: 'conformance-notice',
};
const definitions = Object.keys(processes).map((name) =>
  fs.readFileSync(path.join(__dirname, 'conformance', `${name}.bpmn`), 'utf8'),
);

describeEngineConformance('bpmn-engine plugin', {
  wiring: inProcessWiring,
  createEngine(repository) {
    const engine = new BpmnEnginePlugin({ definitions, stateRepository: repository });
    return {
      engine,
      start: (process, variables) => engine.start(processes[process], variables),
      restore: () => engine.restore(),
      stop: () => engine.stop(),
    };
  },
});
