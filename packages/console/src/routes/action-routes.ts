import type { FastifyInstance } from 'fastify';
import type { ActionRequest, OperatorAction, PsiOperations, RecordList } from '@psi/core';
import type { ConsoleRequestContext } from './console-request-context';
import { ConsoleRequestError } from '../errors';
import { LIST_PAGES } from '../pages/list-columns';
import { previewPage } from '../pages/operations.page';
import { filterFields, filterOf, text, type Query } from '../query-params';

const bad = (message: string) => new ConsoleRequestError(400, 'PSI_CONSOLE_BAD_REQUEST', message);

/** The list an action belongs to, from the console's own action forms. */
function listOf(action: string): RecordList {
  for (const [list, spec] of Object.entries(LIST_PAGES) as Array<
    [RecordList, (typeof LIST_PAGES)[RecordList]]
  >) {
    if (spec.actions.some((a) => a.action === action)) return list;
  }
  throw bad(`unknown action "${action}"`);
}

/**
 * The POST routes (role, read-only switch and CSRF already checked by the plugin's preHandler):
 * a bulk dry run, submitting an action (on ids, or on a filter after its dry run), cancelling.
 */
export function registerActionRoutes(
  app: FastifyInstance,
  ops: PsiOperations,
  c: ConsoleRequestContext,
): void {
  app.post('/actions/preview', async (request, reply) => {
    const body = (request.body ?? {}) as Query;
    const action = text(body, 'action') ?? '';
    listOf(action);
    const preview = await ops.preview({ action, filter: filterOf(body) });
    return reply
      .type('text/html; charset=utf-8')
      .send(previewPage(c.pageContext(request), preview, filterFields(body)));
  });

  app.post('/actions/submit', async (request, reply) => {
    const body = (request.body ?? {}) as Query;
    const user = c.user(request);
    const action = (text(body, 'action') ?? '') as OperatorAction;
    listOf(action);
    const ids = text(body, 'ids');
    const rps = text(body, 'rps');
    const submitted: ActionRequest = {
      action,
      target: ids
        ? {
            ids: ids
              .split(',')
              .map((id) => id.trim())
              .filter(Boolean),
          }
        : { filter: filterOf(body) },
      by: { actor: user.name, reason: text(body, 'operatorReason') ?? '', channel: 'console' },
      // A bulk run is confirmed by the form its dry run showed (it carries the count it saw).
      confirmed: ids ? undefined : text(body, 'confirmed') !== undefined,
      ratePerSecond: rps ? Number(rps) : undefined,
    };
    const run = await ops.submit(submitted);
    return reply.redirect(`${app.prefix}/operations/${run.id}`, 303);
  });

  app.post<{ Params: { id: string } }>('/operations/:id/cancel', async (request, reply) => {
    const user = c.user(request);
    const body = (request.body ?? {}) as Query;
    await ops.cancel(request.params.id, {
      actor: user.name,
      reason: text(body, 'operatorReason') ?? '',
      channel: 'console',
    });
    return reply.redirect(`${app.prefix}/operations/${request.params.id}`, 303);
  });
}
