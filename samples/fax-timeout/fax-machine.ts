import type { InProcessService } from '@psi/adapters';

/**
 * An in-process fax gateway. `reportAfterMs(to)` says when the "sent" report for a number comes
 * back (undefined: never). Reports race the process's timeout; PSI lets exactly one win.
 */
export function createFaxGateway(
  reportAfterMs: (to: string) => number | undefined,
): InProcessService {
  let transmission = 1000;
  return {
    sendFax: (payload, context) => {
      const fax = payload as { to: string; document: string };
      const after = reportAfterMs(fax.to);
      if (after !== undefined) {
        const id = `TX-${transmission++}`;
        setTimeout(() => {
          void context
            .respond('fax-sent', { pages: 2, transmissionId: id })
            .catch((error: unknown) => console.error('fax gateway could not report', error));
        }, after);
      }
      return undefined; // accepted; the report comes later
    },
  };
}
