import type { FastifyInstance, FastifyReply } from 'fastify';
import type { PsiOperations, RecordList } from '@psi/core';
import type { ConsoleRequestContext } from './console-request-context';
import { filterOf, pageOf, type Query } from '../query-params';
import { detailPage, instancePage } from '../pages/detail.page';
import { listPage } from '../pages/list.page';
import { auditPage, operationPage, operationsPage } from '../pages/operations.page';
import { overviewPage } from '../pages/overview.page';

const LISTS: readonly RecordList[] = [
  'expectations',
  'parked',
  'dead-letters',
  'invocations',
  'guards',
];

const sendPage = (reply: FastifyReply, body: string) =>
  reply.type('text/html; charset=utf-8').send(body);

/** The read-only pages: overview, lists, details, instances, operations, audit. */
export function registerPageRoutes(
  app: FastifyInstance,
  ops: PsiOperations,
  c: ConsoleRequestContext,
): void {
  app.get('/', async (request, reply) => {
    const [overview, runs] = await Promise.all([
      ops.overview(),
      ops.operations({ status: ['pending', 'running'] }),
    ]);
    return sendPage(reply, overviewPage(c.pageContext(request), overview, runs));
  });

  for (const list of LISTS) {
    app.get(`/${list}`, async (request, reply) => {
      const query = request.query as Query;
      const filter = filterOf(query);
      const [result, count, groups] = await Promise.all([
        ops.list(list, filter, pageOf(query)),
        ops.count(list, filter),
        list === 'dead-letters' ? ops.deadLetterGroups(filter) : Promise.resolve(undefined),
      ]);
      return sendPage(reply, listPage(c.pageContext(request), list, query, result, count, groups));
    });
    app.get<{ Params: { id: string } }>(`/${list}/:id`, async (request, reply) => {
      const record = await ops.get(list, request.params.id);
      const instanceId = (record as { instanceId?: string }).instanceId;
      const timeline = instanceId ? await ops.timeline(instanceId) : undefined;
      return sendPage(reply, detailPage(c.pageContext(request), list, record, timeline));
    });
  }

  app.get<{ Params: { id: string } }>('/instances/:id', async (request, reply) =>
    sendPage(reply, instancePage(c.pageContext(request), await ops.timeline(request.params.id))),
  );

  app.get('/operations', async (request, reply) =>
    sendPage(reply, operationsPage(c.pageContext(request), await ops.operations({ limit: 100 }))),
  );

  app.get<{ Params: { id: string } }>('/operations/:id', async (request, reply) => {
    const run = await ops.operation(request.params.id);
    const items = await ops.items(run.id, { limit: 1000 });
    return sendPage(reply, operationPage(c.pageContext(request), run, items));
  });

  app.get('/audit', async (request, reply) =>
    sendPage(reply, auditPage(c.pageContext(request), await ops.recentActions({ limit: 200 }))),
  );
}
