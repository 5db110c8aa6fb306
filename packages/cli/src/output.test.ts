import { parseArgs, parseDuration } from './args';
import { renderTable } from './output';
import { UsageError } from './usage-error';

describe(renderTable, () => {
  const rows = [
    {
      id: '0193a0f2-7c1d-7000-8000-000000000001',
      reason: 'handler-failed',
      detail: 'x'.repeat(80),
    },
  ];
  const columns = [
    { header: 'ID', cell: (r: (typeof rows)[0]) => r.id, shrink: false },
    { header: 'REASON', cell: (r: (typeof rows)[0]) => r.reason },
    { header: 'DETAIL', cell: (r: (typeof rows)[0]) => r.detail },
  ];

  it('cuts the widest cuttable column to fit the terminal, never an id', () => {
    const lines = renderTable(rows, columns, 80).trimEnd().split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(80);
    expect(lines[1]).toContain(rows[0].id);
    expect(lines[1]).toContain('…');
  });

  it('leaves a table that fits alone', () => {
    expect(renderTable(rows, columns, 500)).toContain('x'.repeat(80));
  });
});

describe(parseArgs, () => {
  it('takes words, --flag value, --flag=value, short flags and booleans', () => {
    const args = parseArgs([
      'dead-letters',
      'replay',
      'id-1',
      '--reason=ERP back',
      '-o',
      'json',
      '--yes',
    ]);
    expect(args.words).toEqual(['dead-letters', 'replay', 'id-1']);
    expect(Object.fromEntries(args.flags)).toEqual({
      reason: 'ERP back',
      output: 'json',
      yes: true,
    });
  });

  it('refuses unknown options and missing values', () => {
    expect(() => parseArgs(['--frobnicate'])).toThrow(UsageError);
    expect(() => parseArgs(['--reason'])).toThrow(UsageError);
    expect(() => parseArgs(['--yes=1'])).toThrow(UsageError);
  });

  it('reads durations', () => {
    expect(parseDuration('90s', 'x')).toBe(90_000);
    expect(parseDuration('2h', 'x')).toBe(7_200_000);
    expect(parseDuration('250', 'x')).toBe(250);
    expect(() => parseDuration('soon', 'x')).toThrow(UsageError);
  });
});
