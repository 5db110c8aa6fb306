import { PsiError, TransportTechnicalError, type OutboundRequest } from '@psi/core';
import { AdaptersErrorCode } from '../errors';
import { InProcessTransport } from './in-process.transport';

const request: OutboundRequest = {
  requestId: 'r-1',
  correlationKey: 'k-1',
  service: 'slow',
  operation: 'work',
  payload: {},
} as OutboundRequest;

/** A promise and the function that settles it, for an operation the test decides the end of. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('InProcessTransport: calls are bounded', () => {
  it('fails a call that outlives its timeout with a technical error and aborts its signal', async () => {
    let signal: AbortSignal | undefined;
    const transport = new InProcessTransport().register('slow', {
      work: (_payload, context) => {
        signal = context.signal;
        return new Promise(() => undefined); // never settles
      },
    });
    const sent = transport.send(request, { address: 'slow', timeoutMs: 5 } as never);
    await expect(sent).rejects.toBeInstanceOf(TransportTechnicalError);
    await expect(sent).rejects.toThrow('did not answer "work" within 5 ms');
    expect(signal?.aborted).toBe(true);
  });

  it('lets a call finish within the stop grace, then fails the one still running', async () => {
    const quick = gate();
    const transport = new InProcessTransport({ stopGraceMs: 5 }).register('svc', {
      quick: () => quick.opened.then(() => ({ ok: true })),
      hung: () => new Promise(() => undefined),
    });
    const finishing = transport.send({ ...request, operation: 'quick' }, {
      address: 'svc',
    } as never);
    const hung = transport.send({ ...request, operation: 'hung' }, { address: 'svc' } as never);
    const stopped = transport.stop();
    quick.open();
    await expect(finishing).resolves.toEqual({ kind: 'reply', payload: { ok: true } });
    await expect(hung).rejects.toThrow('was still running "hung" when the transport stopped');
    await stopped;
  });

  it('stops at once when nothing is in flight, and a call that finished leaves nothing behind', async () => {
    const transport = new InProcessTransport({ stopGraceMs: 60_000 }).register('svc', {
      ok: () => 'done',
    });
    await expect(
      transport.send({ ...request, operation: 'ok' }, { address: 'svc' } as never),
    ).resolves.toEqual({ kind: 'reply', payload: 'done' });
    await transport.stop(); // would wait a minute if the finished call were still counted
  });

  it('refuses unusable timeouts with a typed error', () => {
    for (const options of [
      { defaultTimeoutMs: 0 },
      { defaultTimeoutMs: -1 },
      { stopGraceMs: NaN },
    ]) {
      let caught: unknown;
      try {
        new InProcessTransport(options);
      } catch (error) {
        caught = error;
      }
      expect(PsiError.is(caught) && caught.code).toBe(AdaptersErrorCode.TransportConfigInvalid);
    }
  });
});
