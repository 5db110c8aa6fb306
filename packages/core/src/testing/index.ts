export { AdapterTestKit } from './adapter-test-kit';
export type { AdapterRun, ExpectedAnswer, FakeService, RecordedCall } from './adapter-test-kit';
export { StoreInspector } from './store-inspector';
export type { Expectation } from '../records/expectations';
export type { OutboxEntry } from '../records/outbox';
export type { ParkedAnswer } from '../records/parked-answers';
export type { GuardRecord } from '../records/process-guard';
