import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PsiStore } from '@psi/core';
import { PROCUREMENT_ORDER, PROCUREMENT_PATH } from '../procurement/procurement-scenario';
import { PRINT_REMINDER_MS } from './procurement.machine';
import { runProcurementXState } from './run-procurement-xstate';

describe('sample: procurement on XState', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-procurement-xstate-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs the machine with the reference sample adapters: parked confirmation delivered, ERP booked', async () => {
    const sqlitePath = path.join(dir, 'procurement.sqlite');
    const startedAt = Date.now();
    const run = await runProcurementXState({ sqlitePath });

    expect(run.final).toMatchObject({ status: 'completed', waitStates: [] });
    expect(run.final.history).toEqual(PROCUREMENT_PATH);
    expect(run.final.variables).toEqual({
      ...PROCUREMENT_ORDER,
      orderNumber: expect.stringMatching(/^PO-[0-9A-F]{8}$/),
      archiveRef: 'ARCH-2026-0042',
      confirmationId: expect.stringMatching(/^CONF-/),
      deliveryDate: '2026-12-01T00:00:00.000Z',
      erpDocumentId: 'ERP-4711',
    });
    expect(run.deadLetters).toEqual([]);
    // The print reminder's due time was in the store while the instance waited.
    expect(run.timersWhileWaiting).toEqual([
      expect.objectContaining({ dueAt: expect.any(Number) }),
    ]);
    expect(run.timersWhileWaiting[0].dueAt).toBeGreaterThanOrEqual(startedAt + PRINT_REMINDER_MS);

    const kinds = run.trail.map((e) => e.kind);
    expect(kinds.filter((k) => k === 'invoked')).toHaveLength(2);
    expect(kinds.indexOf('released')).toBeGreaterThan(kinds.indexOf('parked'));
    expect(run.trail.filter((e) => e.kind === 'delivered')).toEqual([
      expect.objectContaining({
        detail: expect.objectContaining({
          waitState: 'await-confirmation',
          transition: 'confirmed',
        }),
      }),
    ]);

    const store = await PsiStore.open({ sqlitePath });
    try {
      const rows = await store.dataSource.query<Array<{ engine: string; state: string }>>(
        'SELECT engine, state FROM psi_engine_instance',
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].engine).toBe('xstate');
      expect(JSON.parse(rows[0].state)).toMatchObject({
        status: 'completed',
        timers: [],
        snapshot: { value: 'done', status: 'done' },
      });
    } finally {
      await store.close();
    }
  });
});
