import { EngineStateError } from '../errors';
import {
  parseStoredRecord,
  storedRecordSnapshot,
  type StoredInstanceRecord,
} from './stored-instance-record';

interface TestRecord extends StoredInstanceRecord {
  waits: string[];
}

const hasWaits = (record: Partial<TestRecord>): boolean => Array.isArray(record.waits);

describe(parseStoredRecord, () => {
  it('returns a record of version 1 whose own fields are accepted', () => {
    const json = JSON.stringify({
      version: 1,
      instanceId: 'i1',
      definitionId: 'd',
      status: 'running',
      waits: ['w'],
      startedAt: 1,
    });

    expect(parseStoredRecord<TestRecord>('i1', json, 'a test record', hasWaits)).toMatchObject({
      definitionId: 'd',
      waits: ['w'],
    });
  });

  it.each([
    ['not JSON', '{', /it is not JSON/],
    ['null', 'null', /it is not a test record of version 1/],
    [
      'another version',
      '{"version":2,"definitionId":"d","status":"running","waits":[]}',
      /of version 1/,
    ],
    ['no definitionId', '{"version":1,"status":"running","waits":[]}', /of version 1/],
    ['no status', '{"version":1,"definitionId":"d","waits":[]}', /of version 1/],
    ['own fields refused', '{"version":1,"definitionId":"d","status":"running"}', /of version 1/],
  ])('throws EngineStateError for %s', (_, json, message) => {
    const parse = () => parseStoredRecord<TestRecord>('i1', json, 'a test record', hasWaits);

    expect(parse).toThrow(EngineStateError);
    expect(parse).toThrow(message);
  });
});

describe(storedRecordSnapshot, () => {
  it('copies variables and fault and names the first wait state as current step', () => {
    const variables = { order: { id: 1 } };
    const record: StoredInstanceRecord = {
      version: 1,
      instanceId: 'i1',
      definitionId: 'd',
      status: 'running',
      fault: { code: 'X', message: 'x' },
      startedAt: 1,
    };

    const snapshot = storedRecordSnapshot(record, {
      waitStates: ['a', 'b'],
      variables,
      history: ['s'],
    });
    variables.order.id = 2;

    expect(snapshot).toEqual({
      instanceId: 'i1',
      definitionId: 'd',
      status: 'running',
      waitStates: ['a', 'b'],
      currentStep: 'a',
      variables: { order: { id: 1 } },
      history: ['s'],
      fault: { code: 'X', message: 'x' },
    });
    expect(snapshot.fault).not.toBe(record.fault);
  });

  it('has no current step without wait states', () => {
    const record: StoredInstanceRecord = {
      version: 1,
      instanceId: 'i1',
      definitionId: 'd',
      status: 'completed',
      startedAt: 1,
    };

    const snapshot = storedRecordSnapshot(record, { waitStates: [], variables: {}, history: [] });

    expect(snapshot).not.toHaveProperty('currentStep');
    expect(snapshot).not.toHaveProperty('fault');
  });
});
