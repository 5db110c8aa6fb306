import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EngineStateRepository, ProcessEngine, Variables } from '@psi/core';
import { BpmnEnginePlugin, ReferenceEngine } from '@psi/engines';
import { XStatePlugin } from '@psi/engines/xstate';
import { bpmnEngine, referenceEngine } from '@psi/testing';
import type { ConformanceProcess, EngineConformanceHarness } from '@psi/testing/conformance';
import { xstateEngine } from '@psi/testing/xstate';
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

const idsOf = (definitions: Record<ConformanceProcess, { id: string }>) =>
  Object.fromEntries(
    Object.entries(definitions).map(([process, definition]) => [process, definition.id]),
  ) as Record<ConformanceProcess, string>;

/** The standard processes in BPMN XML. */
const bpmnDefinitions = () =>
  Object.keys(bpmnIds).map((name) => fs.readFileSync(path.join(__dirname, `${name}.bpmn`), 'utf8'));

/** The suite's harness of `plugin`: the plugin on the test environment's clock and store. */
export function conformanceHarness(plugin: ConformancePlugin): EngineConformanceHarness {
  switch (plugin) {
    case 'reference':
      return {
        engine: referenceEngine(Object.values(referenceConformanceProcesses)),
        processes: idsOf(referenceConformanceProcesses),
      };
    case 'bpmn-engine':
      return { engine: bpmnEngine(bpmnDefinitions()), processes: bpmnIds };
    case 'xstate':
      return {
        engine: xstateEngine(Object.values(xstateConformanceMachines)),
        processes: idsOf(xstateConformanceMachines),
      };
  }
}

/** A plugin built on a repository of its own choosing, with the standard processes deployed. */
export interface ConformanceEngine {
  readonly engine: ProcessEngine;
  start(process: ConformanceProcess, variables: Variables): Promise<string>;
  restore(): Promise<void>;
  stop(): Promise<void>;
}

/** Builds `plugin` on `repository` with the standard processes deployed (real time). */
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
      const engine = new BpmnEnginePlugin({
        definitions: bpmnDefinitions(),
        stateRepository: repository,
      });
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
