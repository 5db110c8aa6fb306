import type { OperationView, Overview } from '@psi/core';
import { html, type SafeHtml } from '../html';
import { ago, page, type PageContext } from '../layout';
import { activityChart } from './chart';

function card(
  ctx: PageContext,
  href: string,
  label: string,
  value: number,
  note: string,
  alert = false,
): SafeHtml {
  return html`<a class="card${alert && value > 0 ? ' alert' : ''}" href="${ctx.prefix}${href}">
    <span class="value" data-count="${label}">${value}</span><span class="label">${label}</span
    ><span class="note">${note}</span>
  </a>`;
}

export function overviewPage(ctx: PageContext, overview: Overview, runs: OperationView[]): string {
  const o = overview;
  const reasons = Object.entries(o.deadLetters.byReason)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const body = html`<section class="cards">
      ${card(ctx, '/expectations?status=open', 'waiting', o.expectations.open, `${o.expectations.overdue} overdue`, false)}
      ${card(ctx, '/parked', 'parked', o.parked.total, `${o.parked.instanceNotReady} for their instance, ${o.parked.noExpectation} for an expectation`)}
      ${card(ctx, '/dead-letters?status=open', 'dead letters', o.deadLetters.open, reasons || 'none open', true)}
      ${card(ctx, '/invocations?status=frozen', 'frozen', o.invocations.frozen, `${o.invocations.running} running`, true)}
      ${card(ctx, '/guards?status=held', 'guards held', o.guards.held, 'process guards')}
      ${card(ctx, '/operations', 'operations', o.operations.active, 'pending or running')}
    </section>
    <h2>Last 24 hours</h2>
    ${activityChart(o.activity)}
    ${
      runs.length > 0
        ? html`<h2>Operations in progress</h2>
            <ul class="runs">
              ${runs.map(
                (r) =>
                  html`<li>
                    <a href="${ctx.prefix}/operations/${r.id}">${r.action}</a> by ${r.actor}:
                    ${r.succeeded + r.failed + r.skipped}/${r.total}, ${ago(r.createdAt, ctx.now)}
                  </li>`,
              )}
            </ul>`
        : ''
    }`;
  return page(ctx, 'Overview', body);
}
