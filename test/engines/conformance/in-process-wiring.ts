import { InProcessTransport } from '@psi/adapters';
import type { ConformanceWiring } from '@psi/engines/testing';
import { StaticRegistry } from '@psi/registry';

/** The conformance suite wired with the in-process transport and the static registry. */
export const inProcessWiring: ConformanceWiring = {
  createTransport(services) {
    const transport = new InProcessTransport();
    for (const [address, operations] of Object.entries(services)) {
      transport.register(address, { ...operations });
    }
    return transport;
  },
  createRegistry: (entries) => new StaticRegistry({ ...entries }),
};
