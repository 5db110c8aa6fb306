import { TransportBusinessError, type ServiceCoordinates } from '@psi/core';
import { InProcessTransport } from './in-process.transport';
import type { InProcessService } from './in-process.transport';
import {
  ConformanceFailure,
  describeTransportConformance,
  type ConformanceService,
  type TransportConformanceHarness,
} from '../testing';

describeTransportConformance(
  'in-process',
  { syncReply: true, serviceFailures: 'send' },
  async (): Promise<TransportConformanceHarness> => {
    const transport = new InProcessTransport();
    const coordinates = (service: string, address = service): ServiceCoordinates => ({
      service,
      transport: 'in-process',
      address,
    });
    return {
      transport,
      coordinates: (service) => coordinates(service),
      unreachableCoordinates: (service) => coordinates(service, `unregistered-${service}`),
      async hostService(service, operations) {
        transport.register(service, toInProcessService(operations));
      },
      async teardown() {},
    };
  },
);

/** Maps the suite's transport-neutral failures to what InProcessTransport expects of a service. */
function toInProcessService(operations: ConformanceService): InProcessService {
  const service: InProcessService = {};
  for (const [name, operation] of Object.entries(operations)) {
    service[name] = async (payload, context) => {
      try {
        return await operation(payload, {
          correlationKey: context.correlationKey,
          requestId: context.requestId,
          operation: context.operation,
          respondLater: async (event, answer, options) => {
            await context.respond(event, answer, options);
          },
        });
      } catch (error) {
        if (error instanceof ConformanceFailure && error.kind === 'business') {
          throw new TransportBusinessError(
            'The service rejected the request.',
            undefined,
            error.body,
          );
        }
        if (error instanceof ConformanceFailure) throw new Error('technical failure');
        throw error;
      }
    };
  }
  return service;
}
