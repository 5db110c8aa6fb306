import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PsiStore } from '@psi/core';
import { InsertIntoErpAdapter } from '../procurement/adapters/insert-into-erp.adapter';
import { SendOrderAdapter } from '../procurement/adapters/send-order.adapter';
import { PROCUREMENT_ORDER } from '../procurement/procurement-scenario';
import { loadProcurementBpmn, procurementBpmnCandidates } from './procurement-bpmn-source';
import { runProcurementBpmn } from './run-procurement-bpmn';

describe('sample: procurement on bpmn-engine (procurement.bpmn)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-procurement-bpmn-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs the BPMN file with the reference sample adapters: parked confirmation delivered, ERP booked, store settled', async () => {
    const sqlitePath = path.join(dir, 'procurement.sqlite');
    const run = await runProcurementBpmn({ sqlitePath });

    expect(run.final.status).toBe('completed');
    expect(run.final.waitStates).toEqual([]);
    expect(run.final.variables).toEqual({
      ...PROCUREMENT_ORDER,
      orderNumber: expect.stringMatching(/^PO-[0-9A-F]{8}$/),
      archiveRef: 'ARCH-2026-0042',
      confirmationId: expect.stringMatching(/^CONF-/),
      deliveryDate: '2026-12-01T00:00:00.000Z',
      erpDocumentId: 'ERP-4711',
    });
    // The instance keeps its one bpmn-engine Engine between signals (dropped once idle).
    expect(run.liveEnginesWhileWaiting).toBe(1);
    expect(run.deadLetters).toEqual([]);

    const kinds = run.trail.map((e) => e.kind);
    expect(kinds.filter((k) => k === 'invoked')).toHaveLength(2);
    // The confirmation came before the receive task was reached: parked, then released.
    expect(kinds.indexOf('parked')).toBeGreaterThan(-1);
    expect(kinds.indexOf('released')).toBeGreaterThan(kinds.indexOf('parked'));
    const delivered = run.trail.filter((e) => e.kind === 'delivered');
    expect(delivered).toHaveLength(1);
    expect(delivered[0].detail).toMatchObject({
      waitState: 'await-confirmation',
      transition: 'confirmed',
    });

    const store = await PsiStore.open({ sqlitePath });
    try {
      const query = <T>(sql: string): Promise<T[]> => store.dataSource.query(sql);
      const instances = await query<{ engine: string; instanceId: string; state: string }>(
        'SELECT engine, "instanceId", state FROM psi_engine_instance',
      );
      expect(instances).toHaveLength(1);
      expect(instances[0]).toMatchObject({ engine: 'bpmn-engine', instanceId: run.instanceId });
      const record = JSON.parse(instances[0].state) as Record<string, unknown>;
      expect(record).toMatchObject({
        definitionId: 'procurement',
        status: 'completed',
        waits: [],
        variables: run.final.variables,
      });
      // An ended instance keeps PSI's view only, not bpmn-engine's state.
      expect(record.engineState).toBeUndefined();

      const invocations = await query<{ step: string; adapter: string; status: string }>(
        'SELECT step, adapter, status FROM psi_invocation ORDER BY step',
      );
      expect(invocations).toEqual([
        { step: 'insert-into-erp', adapter: InsertIntoErpAdapter.name, status: 'completed' },
        { step: 'send-to-supplier', adapter: SendOrderAdapter.name, status: 'completed' },
      ]);
      expect(await query('SELECT status FROM psi_outbox')).toEqual([
        { status: 'sent' },
        { status: 'sent' },
      ]);
      expect(await query('SELECT "waitState", status FROM psi_expectation')).toEqual([
        { waitState: 'await-confirmation', status: 'delivered' },
      ]);
      expect(await query('SELECT * FROM psi_parked_message')).toEqual([]);
      expect(await query('SELECT * FROM psi_dead_letter')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('finds procurement.bpmn from the source folder and from samples/dist', () => {
    const source = loadProcurementBpmn();
    expect(source).toContain('<process id="procurement"');
    const dist = path.resolve(__dirname, '..', 'dist', 'procurement-bpmn');
    expect(loadProcurementBpmn(dist)).toBe(source);
    expect(() => loadProcurementBpmn(os.tmpdir())).toThrow(/procurement\.bpmn not found/);
    expect(procurementBpmnCandidates(dist)[1]).toBe(path.join(__dirname, 'procurement.bpmn'));
  });
});
