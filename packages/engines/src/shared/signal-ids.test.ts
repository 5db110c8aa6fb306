import { KEPT_SIGNAL_IDS, recordApplied, wasApplied, type SignalIdHolder } from './signal-ids';

describe('signal ids', () => {
  it('knows the ids it recorded, and nothing without an id', () => {
    const holder: SignalIdHolder = {};
    expect(wasApplied(holder, 'a')).toBe(false);
    recordApplied(holder, 'a');
    recordApplied(holder, undefined);
    expect(holder.signalIds).toEqual(['a']);
    expect(wasApplied(holder, 'a')).toBe(true);
    expect(wasApplied(holder, undefined)).toBe(false);
  });

  it(`keeps the latest ${KEPT_SIGNAL_IDS}, oldest first`, () => {
    const holder: SignalIdHolder = {};
    for (let i = 0; i < KEPT_SIGNAL_IDS + 3; i++) recordApplied(holder, `s${i}`);
    expect(holder.signalIds).toHaveLength(KEPT_SIGNAL_IDS);
    expect(holder.signalIds?.[0]).toBe('s3');
    expect(wasApplied(holder, 's2')).toBe(false);
    expect(wasApplied(holder, `s${KEPT_SIGNAL_IDS + 2}`)).toBe(true);
  });

  it('treats a stored value that is no list as no ids, and replaces it', () => {
    const holder = { signalIds: 'garbage' } as unknown as SignalIdHolder;
    expect(wasApplied(holder, 'garbage')).toBe(false);
    recordApplied(holder, 'b');
    expect(holder.signalIds).toEqual(['b']);
  });
});
