import 'reflect-metadata';
import { Coordinator, PsiStore, type TraceEvent } from '@psi/core';
import { InProcessTransport } from '@psi/adapters';
import { ReferenceEngine } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { InsertIntoErpAdapter } from './adapters/insert-into-erp.adapter';
import { SendOrderAdapter } from './adapters/send-order.adapter';
import { procurementProcess } from './procurement.process';
import { createErp, createSupplier } from './services';
import { formatTrace } from './trace-printer';

/**
 * The procurement demo: the supplier's confirmation arrives while the order is still being
 * printed and archived, is parked in the SQLite store, and is delivered the moment the process
 * reaches "await-confirmation". Then the order goes into the ERP.
 */
async function main(): Promise<void> {
  const startedAt = Date.now();
  const store = await PsiStore.open({
    sqlitePath: process.env.PSI_SQLITE_PATH ?? '.psi/procurement-demo.sqlite',
  });
  const engine = new ReferenceEngine({
    definitions: [procurementProcess],
    stateRepository: store.engineStates(),
  });
  const transport = new InProcessTransport()
    .register('supplier', createSupplier())
    .register('erp', createErp());
  const registry = new StaticRegistry({
    supplier: { transport: 'in-process', address: 'supplier', parkingTtlMs: 3_600_000 },
    erp: { transport: 'in-process', address: 'erp' },
  });
  const parked = deferred<void>();
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry,
    transports: [transport],
    adapters: [SendOrderAdapter, InsertIntoErpAdapter],
    onTrace: (event: TraceEvent) => {
      console.log(formatTrace(event, startedAt));
      if (event.kind === 'parked') parked.resolve();
    },
  });
  await coordinator.start();

  console.log(`PSI procurement demo — store: ${store.options.sqlitePath}\n`);
  const instanceId = await engine.start('procurement', {
    customer: 'ACME Tools',
    item: 'M8 steel bolts',
    quantity: 500,
  });
  console.log(
    `+${String(Date.now() - startedAt).padStart(4)} ms  started       instance ${instanceId}`,
  );

  // The slow manual step: printing and archiving finishes only after the confirmation is in.
  await parked.promise;
  console.log(
    `+${String(Date.now() - startedAt).padStart(4)} ms  manual step   order printed and archived`,
  );
  await engine.signal(instanceId, 'print-and-archive', {
    transition: 'printed',
    variables: { archiveRef: 'ARCH-2026-0042' },
  });

  const final = await engine.whenEnded(instanceId);
  await coordinator.idle();
  console.log(`\nInstance ${final.status}; steps: ${final.history.join(' → ')}`);
  console.log('Final variables:');
  for (const [name, value] of Object.entries(final.variables))
    console.log(`  ${name.padEnd(15)} ${JSON.stringify(value)}`);
  const deadLetters = await coordinator.deadLetters.list();
  console.log(`Dead letters: ${deadLetters.length}`);

  await coordinator.close();
  await engine.stop();
  await store.close();
  if (final.status !== 'completed') process.exitCode = 1;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
