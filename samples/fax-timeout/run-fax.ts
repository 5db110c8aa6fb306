import { InProcessTransport } from '@psi/adapters';
import { Coordinator, PsiStore, type DeadLetter, type TraceEvent } from '@psi/core';
import { ReferenceEngine, type InstanceSnapshot } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { createFaxGateway } from './fax-machine';
import { faxProcess } from './fax.process';
import { SendFaxAdapter } from './send-fax.adapter';

export interface FaxJob {
  to: string;
  /** When the gateway reports "sent"; undefined: never. */
  reportAfterMs?: number;
}

export interface FaxRun {
  results: Array<{ job: FaxJob; instanceId: string; branch: string; final: InstanceSnapshot }>;
  deadLetters: DeadLetter[];
}

/** Sends each fax through a PSI coordinator on `sqlitePath` and waits until every instance ended. */
export async function runFaxScenario(
  sqlitePath: string,
  jobs: FaxJob[],
  onTrace?: (event: TraceEvent) => void,
): Promise<FaxRun> {
  const store = await PsiStore.open({ sqlitePath });
  const engine = new ReferenceEngine({
    definitions: [faxProcess],
    stateRepository: store.engineStates(),
  });
  const byNumber = new Map(jobs.map((j) => [j.to, j.reportAfterMs]));
  const transport = new InProcessTransport().register(
    'fax-gateway',
    createFaxGateway((to) => byNumber.get(to)),
  );
  // A sample program: it shows users how to wire PSI, so it does not use @psi/testing.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({
      'fax-gateway': { transport: 'in-process', address: 'fax-gateway' },
    }),
    transports: [transport],
    adapters: [SendFaxAdapter],
    onTrace,
  });
  await coordinator.start();
  try {
    const ids = await Promise.all(
      jobs.map((job) => engine.start('fax', { to: job.to, document: 'invoice-2026-0042.pdf' })),
    );
    const finals = await Promise.all(ids.map((id) => engine.whenEnded(id)));
    // Reports that lose against the timeout arrive after the instance ended: wait for them too.
    const expectedLate = jobs.filter(
      (j, i) => j.reportAfterMs !== undefined && finals[i].history.at(-1) !== 'fax-delivered',
    ).length;
    const deadline = Date.now() + 10_000;
    const ours = async (): Promise<DeadLetter[]> =>
      (await coordinator.deadLetters.list()).filter(
        (l) => l.instanceId !== undefined && ids.includes(l.instanceId),
      );
    let deadLetters = await ours();
    while (deadLetters.length < expectedLate && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      deadLetters = await ours();
    }
    await coordinator.idle();
    return {
      results: jobs.map((job, i) => ({
        job,
        instanceId: ids[i],
        branch: finals[i].history.at(-1) ?? '',
        final: finals[i],
      })),
      deadLetters,
    };
  } finally {
    await coordinator.close();
    await engine.stop();
    await store.close();
  }
}
