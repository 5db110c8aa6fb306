import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fastify, { type FastifyInstance } from 'fastify';
import { PsiError, PsiOperations, PsiStore } from '@psi/core';
import { psiConsole } from './console-plugin';
import { ConsoleErrorCode } from './errors';

// The plugin's guards, without a browser: registration refused without authorization, local-only
// mode, the read-only switch, unauthenticated requests, assets and headers. Real SQLite store,
// real HTTP on loopback (fastify's inject does not load under jest here: light-my-request
// requires an ESM-only `cookie`).

/** Apps a test listened with, closed after it (also when it failed). */
const opened: FastifyInstance[] = [];

interface Answer {
  status: number;
  headers: Headers;
  body: string;
  json(): unknown;
}

async function serve(
  app: FastifyInstance,
): Promise<(path: string, init?: RequestInit) => Promise<Answer>> {
  opened.push(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return async (path, init) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      redirect: 'manual',
      ...init,
    });
    const body = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body,
      json: () => JSON.parse(body) as unknown,
    };
  };
}

describe(psiConsole, () => {
  let dir: string;
  let store: PsiStore;
  let operations: PsiOperations;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-console-unit-'));
    store = await PsiStore.open({ sqlitePath: path.join(dir, 'psi.sqlite') });
    operations = new PsiOperations(store);
  });
  afterEach(async () => {
    for (const app of opened.splice(0)) await app.close();
  });
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to register without an authorization hook unless told it runs local-only', async () => {
    const app = fastify();
    const error = await app
      .register(psiConsole, { prefix: '/psi', operations })
      .ready()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(PsiError.is(error) && error.code).toBe(ConsoleErrorCode.Unprotected);
    await app.close();
    const wrong = fastify();
    const bad = await wrong
      .register(psiConsole, { prefix: '/psi', operations: {} as PsiOperations, localOnly: true })
      .ready()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(PsiError.is(bad) && bad.code).toBe(ConsoleErrorCode.ConfigInvalid);
    await wrong.close();
  });

  it('local-only: loopback clients are operator "local", every other client is refused', async () => {
    const app = fastify({ trustProxy: true });
    await app.register(psiConsole, { prefix: '/psi', operations, localOnly: true });
    const get = await serve(app);
    const local = await get('/psi/');
    expect(local.status).toBe(200);
    expect(local.body).toMatch(/local ·\s+operator/);
    expect(local.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(local.headers.get('x-frame-options')).toBe('DENY');
    // A client behind a (local) reverse proxy is not local.
    for (const headers of <Array<Record<string, string>>>[
      { 'x-forwarded-for': '10.1.2.3' },
      { forwarded: 'for=192.0.2.60;proto=http' },
    ]) {
      const remote = await get('/psi/', { headers });
      expect(remote.status).toBe(403);
      expect(remote.json()).toMatchObject({ code: ConsoleErrorCode.NotLocal });
    }
  });

  it('without a user: 401 (JSON or page), or the login page for a browser when loginUrl is set', async () => {
    const app = fastify();
    await app.register(psiConsole, { prefix: '/psi', operations, authorize: () => null });
    const get = await serve(app);
    const api = await get('/psi/dead-letters');
    expect(api.status).toBe(401);
    expect(api.json()).toMatchObject({ code: ConsoleErrorCode.Unauthenticated });
    const browser = await get('/psi/', { headers: { accept: 'text/html' } });
    expect(browser.status).toBe(401);
    expect(browser.body).toContain('data-code="PSI_CONSOLE_UNAUTHENTICATED"');
    await app.close();
    const withLogin = fastify();
    await withLogin.register(psiConsole, {
      prefix: '/ops',
      operations,
      authorize: () => null,
      loginUrl: '/login',
    });
    const redirect = await (await serve(withLogin))('/ops/parked?reason=no-expectation');
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe(
      '/login?next=%2Fops%2Fparked%3Freason%3Dno-expectation',
    );
  });

  it('read-only: no action forms, every POST refused, even for an operator', async () => {
    const app = fastify();
    await app.register(psiConsole, {
      prefix: '/psi',
      operations,
      readOnly: true,
      authorize: () => ({ name: 'olga', role: 'operator' }),
    });
    const get = await serve(app);
    const page = await get('/psi/dead-letters');
    expect(page.status).toBe(200);
    expect(page.body).toContain('read-only');
    expect(page.body).not.toContain('form class="bulk"');
    const csrf = /name="psi-csrf" content="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const post = await get('/psi/actions/submit', {
      method: 'POST',
      body: new URLSearchParams({ _csrf: csrf, action: 'discard', ids: 'x', operatorReason: 'r' }),
    });
    expect(post.status).toBe(403);
    expect(post.json()).toMatchObject({ code: ConsoleErrorCode.ReadOnly });
  });

  it('serves its own assets, typed errors for bad filters, 404 for unknown records', async () => {
    const app = fastify();
    await app.register(psiConsole, {
      prefix: '/psi',
      operations,
      authorize: () => ({ name: 'rita', role: 'reader' }),
    });
    const get = await serve(app);
    const css = await get('/psi/assets/console.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toContain('text/css');
    expect((await get('/psi/assets/console.js')).body).toContain('current');
    const badFilter = await get('/psi/dead-letters?reason=tired');
    expect(badFilter.status).toBe(400);
    expect(badFilter.json()).toMatchObject({ code: 'PSI_OPERATION_INVALID' });
    const missing = await get('/psi/dead-letters/nope');
    expect(missing.status).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'PSI_DEAD_LETTER_NOT_FOUND' });
    const overview = await get('/psi');
    expect(overview.status).toBe(200);
    expect(overview.body).toContain('<svg');
  });
});
