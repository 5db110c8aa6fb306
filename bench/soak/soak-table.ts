import type { Incarnation, SoakReport } from './soak-supervisor';

/** The figures the issue asks to be 0 (at-least-once re-runs with the same delivery id aside). */
export function violations(report: SoakReport): string[] {
  const zero: Array<[string, number]> = [
    ['lost', report.lost],
    ['handlers doubled', report.doubled],
    ['interrupted letters', report.interrupted],
    ['spurious timeouts', report.spuriousTimeouts],
    ['leftovers on ended instances', report.leftovers],
    ['stuck instances', report.stuck],
    ['orphan sends', report.orphanSends],
    ['open invocations on ended instances', report.openInvocations],
    ['unexpected dead letters', report.unexpectedLetters],
    ['node errors', report.problems.filter((p) => p.level !== 'warn').length],
  ];
  return zero.filter(([, n]) => n > 0).map(([what, n]) => `${what}: ${n}`);
}

/** The soak table: one row per run. */
export function formatSoakTable(reports: readonly SoakReport[]): string {
  const header = [
    'store',
    'instances',
    'kills',
    'seconds',
    'answers',
    'delivered',
    'late',
    'superseded',
    'duplicate acks',
    're-runs (same id)',
    'lost',
    'doubled',
    'interrupted',
    'spurious timeouts',
    'leftovers',
    'stuck',
    'orphan sends',
  ];
  const rows = reports.map((r) => [
    r.store,
    String(r.instances),
    String(r.kills),
    r.seconds.toFixed(0),
    String(r.answersSent),
    String(r.delivered),
    String(r.deadLetters.late ?? 0),
    String(r.deadLetters.superseded ?? 0),
    String(r.acks.duplicate ?? 0),
    String(r.handlerReruns),
    String(r.lost),
    String(r.doubled),
    String(r.interrupted),
    String(r.spuriousTimeouts),
    String(r.leftovers),
    String(r.stuck),
    String(r.orphanSends),
  ]);
  return table([header, ...rows]);
}

/** Recovery after each kill: fork → ready, → first delivery, → the dead node's claims settled. */
export function formatRecovery(reports: readonly SoakReport[]): string {
  const header = [
    'store',
    'restarts',
    'fork→ready p50',
    'fork→first delivery p50 / max',
    'kills leaving claims',
    'fork→claims settled p50 / max',
  ];
  const rows = reports.map((r) => {
    const restarts = r.incarnations.slice(1);
    const settled = restarts.filter((i) => i.claimsLeft > 0);
    return [
      r.store,
      String(restarts.length),
      ms(p50(restarts.map((i) => i.readyMs))),
      `${ms(p50(restarts.map((i) => i.firstDeliveryMs)))} / ${ms(max(restarts.map((i) => i.firstDeliveryMs)))}`,
      String(settled.length),
      `${ms(p50(settled.map((i) => i.claimsSettledMs)))} / ${ms(max(settled.map((i) => i.claimsSettledMs)))}`,
    ];
  });
  return table([header, ...rows]);
}

export function p50(values: ReadonlyArray<number | undefined>): number | undefined {
  const known = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  return known.length === 0 ? undefined : known[Math.ceil(known.length / 2) - 1];
}

export function max(values: ReadonlyArray<number | undefined>): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : Math.max(...known);
}

function ms(value: number | undefined): string {
  return value === undefined ? '-' : `${value} ms`;
}

function table(lines: string[][]): string {
  const widths = lines[0].map((_, c) => Math.max(...lines.map((line) => line[c].length)));
  return lines
    .map((line) =>
      line
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
        .join('  '),
    )
    .join('\n');
}

export type { Incarnation };
