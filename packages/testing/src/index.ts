/**
 * `@psi/testing`: a whole PSI in a test, with a clock the test moves.
 *
 * `PsiTestEnvironment.create` gives a running coordinator on a throwaway store (a SQLite file in
 * a temp dir; PostgreSQL on request), the engine of your choice, the services your adapters call
 * hosted in-process and scripted by the test, and a {@link TestClock} that PSI's deadlines,
 * parking TTLs, retry backoff, leases and the engine's timers all obey. Each call that hands PSI
 * something resolves once PSI has settled, so a test asserts right after it; `clock.advance(ms)`
 * fires what falls due in order, with no real waiting (a 3-day timeout runs in milliseconds).
 * Adapters themselves are unit-tested with `AdapterTestKit` (`@psi/core/testing`); what a store
 * holds, record by record (also a store a killed process left), is read with `StoreInspector`.
 *
 * @example
 * ```ts
 * import { PsiTestEnvironment, referenceEngine, ScriptedService, type ServiceCall } from '@psi/testing';
 *
 * let env: PsiTestEnvironment;
 * beforeEach(async () => {
 *   env = await PsiTestEnvironment.create({
 *     adapters: [SendOrderAdapter, InsertIntoErpAdapter],
 *     engine: referenceEngine([procurementProcess]),
 *     services: {
 *       supplier: new ScriptedService('supplier'), // accepts orders; the test confirms them
 *       erp: new ScriptedService('erp', { insertOrder: () => ({ documentId: 'ERP-1' }) }),
 *     },
 *   });
 * });
 * afterEach(() => env.dispose());
 *
 * const confirmation = (call: ServiceCall) => ({
 *   event: 'order-confirmed',
 *   call, // answers this call: its correlation key
 *   payload: { orderNumber: (call.payload as { orderNumber: string }).orderNumber,
 *              confirmationId: 'C-1', deliveryDate: '2026-12-01' },
 * });
 *
 * it('parks the early confirmation and delivers it when the order waits for it', async () => {
 *   const id = await env.start('procurement', { item: 'bolts', quantity: 500 });
 *   const call = env.service('supplier').lastCall('placeOrder');
 *   const early = await env.answerBeforeWaiting(id, 'await-confirmation', confirmation(call));
 *   expect(early.status).toBe('parked');
 *
 *   await env.signal(id, 'print-and-archive', { transition: 'printed' });
 *   expect((await env.whenEnded(id)).status).toBe('completed');
 * });
 *
 * it('dead-letters the confirmation one millisecond after the 3-day timeout', async () => {
 *   const id = await env.start('procurement', { item: 'bolts', quantity: 500 });
 *   await env.signal(id, 'print-and-archive', { transition: 'printed' });
 *   const call = env.service('supplier').lastCall('placeOrder');
 *   // The clock jumps 3 days (the timeout fires), then the answer comes: no real waiting.
 *   const late = await env.answerAtDeadline(id, confirmation(call), { offsetMs: 1 });
 *   expect(late).toMatchObject({ status: 'dead-lettered', reason: 'late' });
 * });
 * ```
 *
 * The repository runs this as `samples/procurement/procurement-flows.test.ts`.
 *
 * @module
 */

export { PsiTestEnvironment } from './psi-test-environment';
export type { PsiTestEnvironmentOptions, TestAnswer, TestProblem } from './environment-options';
export { TestClock } from './test-clock';
export { StoreInspector } from '@psi/core/testing';
export { ScriptedService } from './scripted-service';
export type { ScriptedReply, ServiceCall } from './scripted-service';
export { referenceEngine, bpmnEngine } from './test-engines';
export type { TestEngine, TestEngineFactory, TestEngineParts } from './test-engines';
export type { TestStoreOptions } from './test-store';
export {
  TestingErrorCode,
  TestOptionsError,
  WaitTimedOutError,
  SettleTimedOutError,
  TestClockError,
  NoServiceCallError,
  NoDeadlineError,
  AlreadyWaitingError,
  EnvironmentDisposedError,
} from './errors';
