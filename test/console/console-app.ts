import { randomBytes } from 'node:crypto';
import fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { psiConsole, type ConsoleUser, type PsiConsoleOptions } from '@psi/console';
import type { StoreLocation } from '../foundation/test-stores';
import { openOpsWorld, type OpsWorld } from '../operations/ops-world';

// The user's own app, as the console's README describes it: its login form and sessions, its
// authorization hook, and the console registered under /psi beside them; a coordinator on the
// operations tests' world. Served on 127.0.0.1 (a free port).

const USERS: Record<string, { password: string; user: ConsoleUser }> = {
  alice: { password: 'alice-pw', user: { name: 'alice', role: 'operator' } },
  rita: { password: 'rita-pw', user: { name: 'rita', role: 'reader' } },
};

export interface ConsoleApp {
  world: OpsWorld;
  app: FastifyInstance;
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

export async function openConsoleApp(
  file: StoreLocation,
  options: Partial<PsiConsoleOptions> = {},
): Promise<ConsoleApp> {
  const world = await openOpsWorld(file);
  const app = fastify();
  const sessions = new Map<string, ConsoleUser>();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.get('/login', async (request, reply) => {
    const next = (request.query as { next?: string }).next ?? '/psi/';
    return reply
      .type('text/html')
      .send(
        `<!doctype html><title>Log in</title><form method="post" action="/login">` +
          `<input type="hidden" name="next" value="${next.replace(/"/g, '')}">` +
          `<label>User <input name="username"></label><label>Password <input name="password" type="password"></label>` +
          `<button type="submit">Log in</button></form>`,
      );
  });
  app.post('/login', async (request, reply) => {
    const form = request.body as { username?: string; password?: string; next?: string };
    const account = USERS[form.username ?? ''];
    if (!account || account.password !== form.password)
      return reply.status(401).send('wrong user or password');
    const sid = randomBytes(16).toString('hex');
    sessions.set(sid, account.user);
    const next = form.next?.startsWith('/') ? form.next : '/psi/';
    return reply
      .header('set-cookie', `sid=${sid}; HttpOnly; SameSite=Lax; Path=/`)
      .redirect(next, 303);
  });
  await app.register(psiConsole, {
    prefix: '/psi',
    operations: world.h.coordinator.operations,
    authorize: (request) => sessions.get(cookie(request, 'sid') ?? '') ?? null,
    loginUrl: '/login',
    csrfSecret: 'console-test-secret',
    ...options,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    world,
    app,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await app.close();
      await world.h.close();
    },
  };
}
