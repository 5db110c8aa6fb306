export { AdapterTestKit } from './adapter-test-kit';
export type { AdapterRun, ExpectedAnswer, FakeService, RecordedCall } from './adapter-test-kit';
