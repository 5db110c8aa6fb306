import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PsiError, PsiErrorCode } from '@psi/core';
import { CsrfTokens, isLocalRequest, type ConsoleUser } from './auth';
import { compileConsoleOptions, type PsiConsoleOptions } from './console-options';
import { ConsoleErrorCode, ConsoleRequestError } from './errors';
import { errorPage } from './layout';
import { registerActionRoutes } from './routes/action-routes';
import { registerPageRoutes } from './routes/page-routes';
import type { ConsoleRequestContext } from './routes/console-request-context';

const ASSETS: Record<string, string> = {
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
};

/** Every page: nothing from elsewhere, no framing, no caching of operator data. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** Codes of PsiErrors that are the request's fault (400) or name something missing (404). */
const CLIENT_ERRORS: Record<string, 400 | 404> = {
  [PsiErrorCode.OperationInvalid]: 400,
  [PsiErrorCode.OperationReasonRequired]: 400,
  [PsiErrorCode.OperationNotConfirmed]: 400,
  [PsiErrorCode.InvocationNotFrozen]: 400,
  [PsiErrorCode.OperationNotFound]: 404,
  [PsiErrorCode.DeadLetterNotFound]: 404,
  [PsiErrorCode.InvocationNotFound]: 404,
  [PsiErrorCode.ParkedAnswerNotFound]: 404,
  [PsiErrorCode.GuardNotHeld]: 404,
};

/**
 * PSI's operator console as a fastify plugin: register it in your own app, under a prefix, beside
 * PSI's inbound server.
 *
 * ```ts
 * await app.register(psiConsole, {
 *   prefix: '/psi',
 *   operations: coordinator.operations,
 *   authorize: (request) => sessionUser(request), // { name, role: 'reader' | 'operator' } or null
 * });
 * ```
 *
 * It refuses to register without `authorize` unless `localOnly: true`. Roles are enforced on the
 * server (a reader's POST is refused whatever the page showed), every POST needs a CSRF token
 * bound to the user, `readOnly` turns every action off. Pages are rendered on the server; the
 * CSS and the small script come from this package's `assets/`: nothing is fetched from elsewhere.
 */
export async function psiConsole(app: FastifyInstance, options: PsiConsoleOptions): Promise<void> {
  const config = compileConsoleOptions(options);
  const prefix = app.prefix;
  const csrf = new CsrfTokens(config.csrfSecret);
  const users = new WeakMap<FastifyRequest, ConsoleUser>();
  const assets = new Map(
    Object.keys(ASSETS).map((name) => [
      name,
      fs.readFileSync(path.join(__dirname, '..', 'assets', name)),
    ]),
  );

  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) {
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 64 * 1024 },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
  }

  app.addHook('onRequest', async (request, reply) => {
    if (request.url.startsWith(`${prefix}/assets/`)) return;
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
    if (config.localOnly && !isLocalRequest(request.ip, request.headers)) {
      throw new ConsoleRequestError(
        403,
        ConsoleErrorCode.NotLocal,
        'This console serves local clients only.',
      );
    }
    const user = config.authorize
      ? await config.authorize(request)
      : { name: 'local', role: 'operator' as const };
    if (!user) {
      if (config.loginUrl && request.method === 'GET') {
        return reply.redirect(`${config.loginUrl}?next=${encodeURIComponent(request.url)}`, 302);
      }
      throw new ConsoleRequestError(
        401,
        ConsoleErrorCode.Unauthenticated,
        'Log in to use the PSI console.',
      );
    }
    if (
      typeof user.name !== 'string' ||
      !user.name ||
      (user.role !== 'reader' && user.role !== 'operator')
    ) {
      throw new ConsoleRequestError(
        403,
        ConsoleErrorCode.Forbidden,
        'authorize must give a name and the role reader or operator.',
      );
    }
    users.set(request, user);
  });

  // Every change goes through POST; each is checked here, before any route runs.
  app.addHook('preHandler', async (request) => {
    if (request.method !== 'POST') return;
    const user = users.get(request);
    if (!user)
      throw new ConsoleRequestError(
        401,
        ConsoleErrorCode.Unauthenticated,
        'Log in to use the PSI console.',
      );
    if (config.readOnly)
      throw new ConsoleRequestError(403, ConsoleErrorCode.ReadOnly, 'This console is read-only.');
    if (user.role !== 'operator')
      throw new ConsoleRequestError(
        403,
        ConsoleErrorCode.Forbidden,
        `${user.name} is a reader: only operators act.`,
      );
    const origin = request.headers.origin;
    if (origin && new URL(origin).host !== request.headers.host)
      throw new ConsoleRequestError(
        403,
        ConsoleErrorCode.Csrf,
        'CSRF check failed: the request came from another site.',
      );
    const body = (request.body ?? {}) as Record<string, unknown>;
    csrf.check(user, body._csrf ?? request.headers['x-psi-csrf']);
  });

  app.setErrorHandler((error: unknown, request, reply) =>
    sendError(error, request, reply, config.title, prefix),
  );
  app.setNotFoundHandler((request, reply) =>
    sendError(
      new ConsoleRequestError(404, 'PSI_CONSOLE_NOT_FOUND', `No page ${request.url}.`),
      request,
      reply,
      config.title,
      prefix,
    ),
  );

  for (const [name, type] of Object.entries(ASSETS)) {
    app.get(`/assets/${name}`, async (_request, reply) =>
      reply
        .header('content-type', type)
        .header('cache-control', 'public, max-age=3600')
        .send(assets.get(name)),
    );
  }

  const context: ConsoleRequestContext = {
    user: (request) => {
      const user = users.get(request);
      if (!user)
        throw new ConsoleRequestError(
          401,
          ConsoleErrorCode.Unauthenticated,
          'Log in to use the PSI console.',
        );
      return user;
    },
    pageContext: (request) => {
      const user = context.user(request);
      return {
        prefix,
        title: config.title,
        user,
        csrf: csrf.issue(user),
        readOnly: config.readOnly,
        canAct: !config.readOnly && user.role === 'operator',
        now: Date.now(),
      };
    },
  };
  registerPageRoutes(app, config.operations, context);
  registerActionRoutes(app, config.operations, context);
}

function sendError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  title: string,
  prefix: string,
): FastifyReply {
  let status = 500;
  let code = 'PSI_CONSOLE_INTERNAL';
  let message = 'The console failed to answer; the server log has the cause.';
  if (error instanceof ConsoleRequestError) {
    status = error.statusCode;
    code = error.code;
    message = error.message;
  } else if (PsiError.is(error) && CLIENT_ERRORS[error.code]) {
    status = CLIENT_ERRORS[error.code];
    code = error.code;
    message = error.message;
  } else if (
    typeof error === 'object' &&
    error !== null &&
    'statusCode' in error &&
    Number(error.statusCode) < 500
  ) {
    status = Number(error.statusCode);
    code = 'PSI_CONSOLE_BAD_REQUEST';
    message = error instanceof Error ? error.message : 'Bad request.';
  } else {
    request.log.error({ err: error }, 'PSI console request failed');
  }
  const wantsHtml = (request.headers.accept ?? '').includes('text/html');
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
  if (!wantsHtml) return reply.status(status).send({ code, message });
  return reply
    .status(status)
    .type('text/html; charset=utf-8')
    .send(errorPage(title, status, code, message, prefix));
}
