import type {
  ActionPreview,
  AuditEntryView,
  OperationItemView,
  OperationView,
  RecordList,
} from '@psi/core';
import { isFinished } from '@psi/core';
import { html } from '../html';
import { ago, at, page, type PageContext } from '../layout';
import { cells, LIST_PAGES } from './list-columns';

/** A dry run of a bulk action: the count, the first records, and the confirmation form. */
export function previewPage(
  ctx: PageContext,
  preview: ActionPreview,
  fields: Array<[string, string]>,
): string {
  const spec = LIST_PAGES[preview.list];
  const label = spec.actions.find((a) => a.action === preview.action)?.label ?? preview.action;
  const body = html`<p class="preview">
      Dry run:
      <strong data-preview-count="${preview.count}">${preview.count}</strong> ${preview.list}
      record(s) match; nothing has
      changed.${preview.count > preview.sample.length ? ` The first ${preview.sample.length}:` : ''}
    </p>
    <table class="records" data-list="${preview.list}">
      <thead>
        <tr>
          ${spec.columns.map(([t]) => html`<th>${t}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${preview.sample.map(
          (row) =>
            html`<tr>
              ${cells(preview.list as RecordList, row, ctx).map((c) => html`<td>${c}</td>`)}
            </tr>`,
        )}
      </tbody>
    </table>
    ${
      preview.count > 0
        ? html`<form class="confirm" method="post" action="${ctx.prefix}/actions/submit">
            <input type="hidden" name="_csrf" value="${ctx.csrf}" />
            <input type="hidden" name="action" value="${preview.action}" />
            <input type="hidden" name="confirmed" value="${preview.count}" />
            ${fields.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`)}
            <label
              >Reason
              <input name="operatorReason" required placeholder="why (kept in the audit trail)"
            /></label>
            <label>Rate <input name="rps" value="50" size="4" /> per second</label>
            <button type="submit" data-confirm="${preview.action}">
              ${label} ${preview.count} record(s)
            </button>
          </form>`
        : html`<p>Nothing to do.</p>`
    }`;
  return page(ctx, `${label}: dry run`, body);
}

const runRow = (ctx: PageContext, r: OperationView) =>
  html`<tr>
    <td><a href="${ctx.prefix}/operations/${r.id}">${r.id}</a></td>
    <td>${r.action}</td>
    <td data-status="${r.status}">${r.status}</td>
    <td>${r.succeeded + r.failed + r.skipped}/${r.total}</td>
    <td>${r.failed}</td>
    <td>${r.actor} (${r.channel})</td>
    <td>${r.reason}</td>
    <td>${ago(r.createdAt, ctx.now)}</td>
  </tr>`;

const RUN_HEAD = html`<thead>
  <tr>
    <th>Id</th>
    <th>Action</th>
    <th>Status</th>
    <th>Done</th>
    <th>Failed</th>
    <th>By</th>
    <th>Reason</th>
    <th>Submitted</th>
  </tr>
</thead>`;

export function operationsPage(ctx: PageContext, runs: OperationView[]): string {
  return page(
    ctx,
    'Operations',
    html`<table class="runs">
      ${RUN_HEAD}
      <tbody>
        ${runs.map((r) => runRow(ctx, r))}
      </tbody>
    </table>`,
  );
}

/** A run: progress (the page refreshes itself while it runs), per-item results, cancel. */
export function operationPage(
  ctx: PageContext,
  run: OperationView,
  items: OperationItemView[],
): string {
  const finished = isFinished(run.status);
  const processed = run.succeeded + run.failed + run.skipped;
  const body = html`<table class="runs">
      ${RUN_HEAD}
      <tbody>
        ${runRow(ctx, run)}
      </tbody>
    </table>
    <progress max="${Math.max(1, run.total)}" value="${processed}"></progress>
    <p class="progress" data-status="${run.status}">
      ${run.status}: ${processed} of ${run.total} (${run.succeeded} succeeded, ${run.failed} failed,
      ${run.skipped} skipped)${run.leaseOwner ? ` on node ${run.leaseOwner}` : ''}
    </p>
    ${
      !finished && ctx.canAct
        ? html`<form method="post" action="${ctx.prefix}/operations/${run.id}/cancel">
            <input type="hidden" name="_csrf" value="${ctx.csrf}" />
            <input name="operatorReason" required placeholder="why cancel" /><button type="submit">
              Cancel
            </button>
          </form>`
        : ''
    }
    <h2>Items</h2>
    <table class="items">
      <thead>
        <tr>
          <th>#</th>
          <th>Target</th>
          <th>Result</th>
          <th>Instance</th>
          <th>Outcome</th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (i) =>
            html`<tr data-status="${i.status}">
              <td>${i.position}</td>
              <td>${i.target}</td>
              <td>${i.status}</td>
              <td>
                ${i.instanceId ? html`<a href="${ctx.prefix}/instances/${encodeURIComponent(i.instanceId)}">${i.instanceId}</a>` : ''}
              </td>
              <td>${i.outcome?.message ?? ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
  return page(ctx, `Operation ${run.id}`, body, { refresh: !finished });
}

/** Operator actions from the audit trail: who, why, through what. */
export function auditPage(ctx: PageContext, entries: AuditEntryView[]): string {
  const detail = (e: AuditEntryView, key: string) =>
    typeof e.detail?.[key] === 'string' ? (e.detail[key] as string) : '';
  return page(
    ctx,
    'Audit: operator actions',
    html`<table class="audit">
      <thead>
        <tr>
          <th>At</th>
          <th>Action</th>
          <th>Actor</th>
          <th>Channel</th>
          <th>Reason</th>
          <th>Instance</th>
          <th>Operation</th>
        </tr>
      </thead>
      <tbody>
        ${entries.map(
          (e) =>
            html`<tr data-kind="${e.kind}">
              <td>${at(e.at)}</td>
              <td>${e.kind}${e.detail?.event ? ` (${String(e.detail.event)})` : ''}</td>
              <td class="actor">${detail(e, 'actor')}</td>
              <td>${detail(e, 'channel')}</td>
              <td>${detail(e, 'reason')}</td>
              <td>
                ${e.instanceId ? html`<a href="${ctx.prefix}/instances/${encodeURIComponent(e.instanceId)}">${e.instanceId}</a>` : ''}
              </td>
              <td>
                ${detail(e, 'operationId') ? html`<a href="${ctx.prefix}/operations/${detail(e, 'operationId')}">${detail(e, 'operationId')}</a>` : ''}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>`,
  );
}
