import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EngineStateRepository } from '@psi/core';
import { BpmnEnginePlugin, ReferenceEngine } from '@psi/engines';
import { XStatePlugin } from '@psi/engines/xstate';
import type { ConformanceEngine, ConformanceProcess } from '@psi/engines/testing';
import { referenceConformanceProcesses } from './reference.processes';
import { xstateConformanceMachines } from './xstate.machines';

/** The three shipped plugins, each with the conformance suite's standard processes. */
export const conformancePlugins = ['reference', 'bpmn-engine', 'xstate'] as const;
export type ConformancePlugin = (typeof conformancePlugins)[number];

const bpmnIds: Record<ConformanceProcess, string> = {
  order: 'conformance-order',
  page: 'conformance-page',
  dispatch: 'conformance-dispatch',
  notice: 'conformance-notice',
};

/** Builds `plugin` on `repository` with the standard processes deployed. */
export function createConformanceEngine(
  plugin: ConformancePlugin,
  repository: EngineStateRepository,
): ConformanceEngine {
  switch (plugin) {
    case 'reference': {
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
    }
    case 'bpmn-engine': {
      const definitions = Object.keys(bpmnIds).map((name) =>
        fs.readFileSync(path.join(__dirname, `${name}.bpmn`), 'utf8'),
      );
      const engine = new BpmnEnginePlugin({ definitions, stateRepository: repository });
      return {
        engine,
        start: (process, variables) => engine.start(bpmnIds[process], variables),
        restore: () => engine.restore(),
        stop: () => engine.stop(),
      };
    }
    case 'xstate': {
      const engine = new XStatePlugin({
        definitions: Object.values(xstateConformanceMachines),
        stateRepository: repository,
      });
      return {
        engine,
        start: (process, variables) =>
          engine.start(xstateConformanceMachines[process].id, variables),
        restore: () => engine.restore(),
        stop: () => engine.stop(),
      };
    }
  }
}
