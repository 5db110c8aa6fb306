import { AdapterInputError } from '@psi/core';
import { AdapterTestKit } from '@psi/core/testing';
import { HandleItemAdapter } from './handle-item.adapter';

describe(HandleItemAdapter, () => {
  const kit = new AdapterTestKit(HandleItemAdapter);
  const handler = {
    handle: (payload: unknown) => ({ item: (payload as { item: number }).item, result: 'r' }),
  };

  it('hands the item to the handler, writes its answer and goes on with "more"', async () => {
    const run = await kit.callService(
      { loop: 'a', item: 2, payload: 'a#2', iterations: 3 },
      handler,
    );

    expect(run.calls).toEqual([
      { operation: 'handle', payload: { loop: 'a', item: 2, payload: 'a#2' } },
    ]);
    expect(run.transition).toBe('more');
    expect(run.variables).toEqual({ handled: 2, lastResult: 'r' });
    expect(run.expectations).toEqual([]);
  });

  it('takes "done" after the last item', async () => {
    const run = await kit.callService(
      { loop: 'a', item: 3, payload: 'a#3', iterations: 3 },
      handler,
    );

    expect(run.transition).toBe('done');
  });

  it('refuses an item that is not a positive integer, naming the field', async () => {
    const error = await kit
      .callService({ loop: 'a', item: 0, payload: 'a#0', iterations: 3 }, handler)
      .catch((e: unknown) => e);

    expect(AdapterInputError.is(error)).toBe(true);
    expect((error as AdapterInputError).violations.map((v) => v.path)).toEqual(['item']);
  });
});
