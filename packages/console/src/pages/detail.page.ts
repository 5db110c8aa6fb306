import type {
  DeadLetterView,
  InstanceTimeline,
  OperatorAction,
  RecordList,
  RecordView,
} from '@psi/core';
import { html, jsonBlock, type SafeHtml } from '../html';
import { ago, at, page, type PageContext } from '../layout';
import { cells, LIST_PAGES } from './list-columns';

/** What dead letters and parked answers have in common: the answer as it came. */
type MessageFields = Partial<
  Pick<
    DeadLetterView,
    | 'messageId'
    | 'event'
    | 'correlationKey'
    | 'businessKey'
    | 'source'
    | 'receivedAt'
    | 'payload'
    | 'instanceId'
  >
> & {
  id: string;
};

/** A form that acts on one record, with the reason the audit trail keeps. */
export function actionForm(
  ctx: PageContext,
  action: OperatorAction,
  label: string,
  id: string,
): SafeHtml {
  return html`<form class="act" method="post" action="${ctx.prefix}/actions/submit">
    <input type="hidden" name="_csrf" value="${ctx.csrf}" />
    <input type="hidden" name="action" value="${action}" />
    <input type="hidden" name="ids" value="${id}" />
    <input
      name="operatorReason"
      required
      placeholder="why (kept in the audit trail)"
      aria-label="reason for ${label}"
    />
    <button type="submit" data-action="${action}">${label}</button>
  </form>`;
}

function facts(rows: Array<[string, unknown]>): SafeHtml {
  return html`<dl class="facts">
    ${rows
      .filter(([, v]) => v !== undefined && v !== '')
      .map(
        ([k, v]) =>
          html`<dt>${k}</dt>
            <dd>
              ${typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v)}
            </dd>`,
      )}
  </dl>`;
}

/** One record: its fields, payload, headers, reason, trace id, the instance's timeline, actions. */
export function detailPage(
  ctx: PageContext,
  list: RecordList,
  record: RecordView,
  timeline?: InstanceTimeline,
): string {
  const spec = LIST_PAGES[list];
  const r = record as MessageFields;
  const message: SafeHtml | string =
    r.messageId !== undefined
      ? html`<h2>Headers</h2>
          ${facts([
            ['message id', r.messageId],
            ['event', r.event],
            ['correlation key', r.correlationKey],
            ['business key', r.businessKey],
            ['source', r.source],
            ['received', at(r.receivedAt)],
          ])}
          <h2>Payload</h2>
          ${jsonBlock(r.payload)}`
      : '';
  const actions =
    ctx.canAct && spec.actions.length > 0
      ? html`<section class="actions">
          ${spec.actions.map((a) => actionForm(ctx, a.action, a.label, record.id))}
        </section>`
      : '';
  const body = html`<table class="records single" data-list="${list}">
      <thead>
        <tr>
          ${spec.columns.map(([title]) => html`<th>${title}</th>`)}
        </tr>
      </thead>
      <tbody>
        <tr>
          ${cells(list, record, ctx).map((c) => html`<td>${c}</td>`)}
        </tr>
      </tbody>
    </table>
    ${actions}
    ${facts([
      ['reason', (record as { reason?: string }).reason],
      ['status', (record as { status?: string }).status],
      ['instance', r.instanceId],
      ['waits at / goes to', (record as { waitState?: string }).waitState],
      ['service', (record as { service?: string }).service],
    ])}
    <h2>Trace</h2>
    <p class="trace">
      trace id: <code>${(record as { traceId?: string }).traceId ?? '—'}</code>
      <small>(recorded once tracing is on)</small>
    </p>
    ${
      'detail' in record || 'lastError' in record
        ? html`<h2>Detail</h2>
            ${jsonBlock((record as { detail?: unknown; lastError?: unknown }).detail ?? (record as { lastError?: unknown }).lastError)}`
        : ''
    }
    ${message}
    <h2>Record</h2>
    ${jsonBlock(record)} ${timeline ? timelineSection(ctx, timeline) : ''}`;
  return page(ctx, `${spec.title.replace(/s$/, '')} ${record.id}`, body);
}

export function timelineSection(ctx: PageContext, timeline: InstanceTimeline): SafeHtml {
  return html`<h2>
      Timeline of
      <a href="${ctx.prefix}/instances/${encodeURIComponent(timeline.instanceId)}"
        >${timeline.instanceId}</a
      >
    </h2>
    <table class="timeline">
      <thead>
        <tr>
          <th>At</th>
          <th>Source</th>
          <th>What</th>
        </tr>
      </thead>
      <tbody>
        ${timeline.entries.map(
          (e) =>
            html`<tr data-kind="${e.kind}">
              <td title="${ago(e.at, ctx.now)}">${at(e.at)}</td>
              <td>${e.source}</td>
              <td>${e.summary}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

/** An instance: what it waits for, what is parked or dead for it, and its timeline. */
export function instancePage(ctx: PageContext, timeline: InstanceTimeline): string {
  const section = (list: RecordList, title: string, rows: RecordView[]) =>
    rows.length === 0
      ? ''
      : html`<h2>${title}</h2>
          <table class="records" data-list="${list}">
            <thead>
              <tr>
                ${LIST_PAGES[list].columns.map(([t]) => html`<th>${t}</th>`)}
              </tr>
            </thead>
            <tbody>
              ${rows.map(
                (row) =>
                  html`<tr>
                    ${cells(list, row, ctx).map((c) => html`<td>${c}</td>`)}
                  </tr>`,
              )}
            </tbody>
          </table>`;
  const body = html`<p class="trace">trace id: <code>${timeline.traceId ?? '—'}</code></p>
    ${section(
      'expectations',
      'Waits for',
      timeline.expectations.filter((e) => e.status === 'open'),
    )}
    ${section('parked', 'Parked answers', timeline.parked)}
    ${section('dead-letters', 'Dead letters', timeline.deadLetters)}
    ${section('invocations', 'Invocations', timeline.invocations)} ${timelineSection(ctx, timeline)}`;
  return page(ctx, `Instance ${timeline.instanceId}`, body);
}
