import type { DeadLetterGroup, Page, RecordList, RecordView } from '@psi/core';
import { html, type SafeHtml } from '../html';
import { at, page, type PageContext } from '../layout';
import { filterFields, queryString, text, type Query } from '../query-params';
import { cells, FIELD_LABELS, LIST_PAGES } from './list-columns';

/** A list with its filter form (GET: the URL is the filter), one page, paging, bulk actions. */
export function listPage(
  ctx: PageContext,
  list: RecordList,
  query: Query,
  result: Page<RecordView>,
  count: number,
  groups?: DeadLetterGroup[],
): string {
  const spec = LIST_PAGES[list];
  const fields = filterFields(query);
  const form = html`<form class="filters" method="get" action="${ctx.prefix}/${list}">
    ${spec.filters.map((name) => {
      const value = text(query, name) ?? '';
      const choices = spec.choices[name];
      const input = choices
        ? html`<select name="${name}">
            <option value="">any</option>
            ${choices.map((c) => html`<option${c === value ? html` selected` : ''}>${c}</option>`)}
          </select>`
        : html`<input
            name="${name}"
            value="${value}"
            placeholder="${name === 'olderThan' || name === 'newerThan' ? '15m, 2h, 7d' : name === 'from' || name === 'to' ? 'ISO date-time' : ''}"
          />`;
      return html`<label>${FIELD_LABELS[name]} ${input}</label>`;
    })}
    <label
      >Order
      <select name="order">
        <option value="newest">newest first</option>
        <option value="oldest" ${text(query, 'order') === 'oldest' ? html` selected` : ''}>
          oldest first
        </option>
      </select></label
    >
    <button type="submit">Filter</button>
    <a href="${ctx.prefix}/${list}">clear</a>
  </form>`;
  const table = html`<table class="records" data-list="${list}">
    <thead>
      <tr>
        ${spec.columns.map(([title]) => html`<th>${title}</th>`)}
      </tr>
    </thead>
    <tbody>
      ${result.items.map(
        (row) =>
          html`<tr>
            ${cells(list, row, ctx).map((c) => html`<td>${c}</td>`)}
          </tr>`,
      )}
    </tbody>
  </table>`;
  const keep: Array<[string, string]> = [
    ...fields,
    ...(text(query, 'order') === 'oldest' ? [['order', 'oldest'] as [string, string]] : []),
  ];
  const next = result.nextCursor
    ? html`<a
        class="next"
        href="${ctx.prefix}/${list}${queryString([...keep, ['cursor', result.nextCursor]])}"
        >next page →</a
      >`
    : '';
  const bulk =
    ctx.canAct && spec.actions.length > 0
      ? html`<form class="bulk" method="post" action="${ctx.prefix}/actions/preview">
          <input type="hidden" name="_csrf" value="${ctx.csrf}" />
          <input type="hidden" name="list" value="${list}" />
          ${fields.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`)}
          <span>Every ${count} matching record(s):</span>
          ${spec.actions.map((a) => html`<button type="submit" name="action" value="${a.action}">${a.label}… (dry run)</button>`)}
        </form>`
      : '';
  const groupTable: SafeHtml | string = groups
    ? html`<h2>Groups</h2>
        <table class="groups">
          <thead>
            <tr>
              <th>Count</th>
              <th>Reason</th>
              <th>Event</th>
              <th>Service</th>
              <th>Newest</th>
            </tr>
          </thead>
          <tbody>
            ${groups.map(
              (g) =>
                html`<tr>
                  <td>
                    <a
                      href="${ctx.prefix}/dead-letters${queryString([...fields.filter(([n]) => !['reason', 'event', 'service'].includes(n)), ['reason', g.reason], ['event', g.event], ...(g.service ? [['service', g.service] as [string, string]] : [])])}"
                      >${g.count}</a
                    >
                  </td>
                  <td>${g.reason}</td>
                  <td>${g.event}</td>
                  <td>${g.service ?? ''}</td>
                  <td>${at(g.newest)}</td>
                </tr>`,
            )}
          </tbody>
        </table>`
    : '';
  const body = html`${form}
    <p class="count">
      <span data-total="${count}">${count}</span>
      matching${result.items.length < count ? `, ${result.items.length} shown` : ''}
    </p>
    ${bulk}${table}${next}${groupTable}`;
  return page(ctx, spec.title, body);
}
