import type { ConsoleUser } from './auth';
import { html, type SafeHtml } from './html';

/** What every page knows: where the console is mounted, who looks, what they may do. */
export interface PageContext {
  prefix: string;
  title: string;
  user: ConsoleUser;
  csrf: string;
  readOnly: boolean;
  /** Whether this user may act here (operator, not read-only). */
  canAct: boolean;
  now: number;
}

const NAV: Array<[string, string]> = [
  ['', 'Overview'],
  ['/expectations', 'Waiting'],
  ['/parked', 'Parked'],
  ['/dead-letters', 'Dead letters'],
  ['/invocations', 'Invocations'],
  ['/guards', 'Guards'],
  ['/operations', 'Operations'],
  ['/audit', 'Audit'],
];

export function page(
  ctx: PageContext,
  heading: string,
  body: SafeHtml,
  options: { refresh?: boolean } = {},
): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="psi-csrf" content="${ctx.csrf}" />
        ${options.refresh ? html`<meta http-equiv="refresh" content="1" />` : ''}
        <title>${heading} · ${ctx.title}</title>
        <link rel="stylesheet" href="${ctx.prefix}/assets/console.css" />
        <script src="${ctx.prefix}/assets/console.js" defer></script>
      </head>
      <body>
        <header>
          <a class="brand" href="${ctx.prefix}/">${ctx.title}</a>
          <nav>
            ${NAV.map(([path, label]) => html`<a href="${ctx.prefix}${path}">${label}</a>`)}
          </nav>
          <span class="who" data-role="${ctx.user.role}"
            >${ctx.user.name} ·
            ${ctx.user.role}${ctx.readOnly ? html` · <strong>read-only</strong>` : ''}</span
          >
        </header>
        <main>
          <h1>${heading}</h1>
          ${body}
        </main>
      </body>
    </html> `.value;
}

/** An error page for a refused or failed request. */
export function errorPage(
  title: string,
  status: number,
  code: string,
  message: string,
  prefix: string,
): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${status} · ${title}</title>
        <link rel="stylesheet" href="${prefix}/assets/console.css" />
      </head>
      <body>
        <main>
          <h1>${status}</h1>
          <p class="error" data-code="${code}">${message}</p>
          <p><a href="${prefix}/">Back to the overview</a></p>
        </main>
      </body>
    </html> `.value;
}

/** Time as ISO (UTC, seconds) for tables. */
export function at(ms: number | undefined): string {
  return ms === undefined ? '' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function ago(ms: number | undefined, now: number): string {
  if (ms === undefined) return '';
  const d = Math.abs(now - ms);
  const s = Math.round(d / 1000);
  const text =
    s < 60
      ? `${s}s`
      : s < 3600
        ? `${Math.round(s / 60)}m`
        : s < 172_800
          ? `${Math.round(s / 3600)}h`
          : `${Math.round(s / 86_400)}d`;
  return ms <= now ? `${text} ago` : `in ${text}`;
}
