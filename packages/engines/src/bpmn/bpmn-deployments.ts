import { ProcessDefinitionError, ProcessDefinitionUnknownError } from '../errors';
import type { BpmnEngineConstructor, BpmnSourceContext } from './bpmn-internals';
import { BpmnModel, type BpmnStartCatch } from './bpmn-model';

/** One startable process of a deployed document. */
export interface BpmnDeployment {
  /** The id `start` is called with. */
  readonly id: string;
  /** The executable process it runs. */
  readonly processId: string;
  /**
   * The parsed document, handed to every Engine of its instances as `sourceContext` (parsed
   * once, not per instance); in a document of several executable processes, a copy in which
   * only this one is executable.
   */
  readonly context: BpmnSourceContext;
  readonly model: BpmnModel;
}

/** A start event that a message or signal starts, with the deployment it starts. */
export interface BpmnStartByMessage extends BpmnStartCatch {
  deployment: BpmnDeployment;
}

/**
 * The deployed documents, parsed once each. A document with one executable process is started
 * under the id given at deploy and under its process id; a document with several under each
 * process id (each instance runs one process, as in Camunda and Zeebe).
 */
export class BpmnDeployments {
  private readonly byId = new Map<string, BpmnDeployment>();

  /** @param parse reads BPMN XML into bpmn-engine's serialized context (throws when it cannot). */
  constructor(private readonly parse: (source: string) => Promise<BpmnSourceContext>) {}

  /**
   * Parses and registers a document; resolves with the ids it can be started under.
   * @throws ProcessDefinitionError when it cannot be read, has no executable process, asks for
   * an id while holding several, or holds something bpmn-engine cannot run.
   */
  async deploy(source: string, id?: string): Promise<string[]> {
    let context: BpmnSourceContext;
    try {
      context = await this.parse(source);
    } catch (error) {
      throw new ProcessDefinitionError(id ?? 'bpmn', [
        `the BPMN XML cannot be read: ${error instanceof Error ? error.message : String(error)}`,
      ]);
    }
    const processIds = context.getExecutableProcesses().map((p) => p.id);
    const name = id ?? (processIds.join(', ') || context.id || 'bpmn');
    if (processIds.length === 0) {
      throw new ProcessDefinitionError(name, ['the document holds no executable process']);
    }
    if (processIds.length > 1 && id !== undefined) {
      throw new ProcessDefinitionError(name, [
        `the document holds ${processIds.length} executable processes (${processIds.join(', ')}): each is started by its own id, so deploy it without an id`,
      ]);
    }
    const model = new BpmnModel(context);
    if (model.problems.length > 0) throw new ProcessDefinitionError(name, model.problems);
    const ids: string[] = [];
    for (const processId of processIds) {
      const deployment: BpmnDeployment = {
        id: id ?? processId,
        processId,
        context: processIds.length === 1 ? context : onlyExecutable(context, processId),
        model,
      };
      for (const key of new Set([deployment.id, processId])) {
        this.byId.set(key, deployment);
        ids.push(key);
      }
    }
    return ids;
  }

  /** @throws ProcessDefinitionUnknownError */
  get(id: string): BpmnDeployment {
    const deployment = this.byId.get(id);
    if (!deployment) throw new ProcessDefinitionUnknownError(id, [...this.byId.keys()]);
    return deployment;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Every message or signal name a deployed document waits for. */
  events(): Set<string> {
    return new Set([...this.byId.values()].flatMap((deployment) => deployment.model.events()));
  }

  /** Every message (or signal) start event of every deployment (PEAL's `messageStarts`). */
  starts(): BpmnStartByMessage[] {
    return [...this.byId.values()].flatMap((deployment) =>
      deployment.model.startCatches
        .filter((start) => start.processId === deployment.processId)
        .map((start) => ({ ...start, deployment })),
    );
  }

  /** Every message (or signal) start event whose event is `event`, one per deployment. */
  startsOn(event: string): BpmnStartByMessage[] {
    const found = new Map<string, BpmnStartByMessage>();
    for (const deployment of this.byId.values()) {
      for (const start of deployment.model.startCatches) {
        if (start.event !== event || start.processId !== deployment.processId) continue;
        found.set(`${deployment.id}\u0000${start.startEventId}`, { ...start, deployment });
      }
    }
    return [...found.values()];
  }
}

/** A copy of `context` in which only `processId` is executable (the others stay as data). */
function onlyExecutable(context: BpmnSourceContext, processId: string): BpmnSourceContext {
  const copy = Object.create(Object.getPrototypeOf(context) as object) as BpmnSourceContext;
  Object.assign(copy, context, {
    elements: {
      ...context.elements,
      processes: context.elements.processes.map((process) =>
        process.id === processId
          ? process
          : { ...process, behaviour: { ...process.behaviour, isExecutable: false } },
      ),
    },
  });
  return copy;
}

/** Parses BPMN XML once into bpmn-engine's serialized context (what every Engine is given). */
export async function parseDocument(
  Engine: BpmnEngineConstructor,
  source: string,
  moddleOptions: object | undefined,
): Promise<BpmnSourceContext> {
  const [definition] = await new Engine({ source, moddleOptions }).getDefinitions();
  if (!definition) throw new Error('the document holds no definitions');
  return definition.environment.options.source;
}
