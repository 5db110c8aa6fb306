import { PsiErrorCode, UnknownServiceError } from '@psi/core';
import type { ResolveHints, ServiceCoordinates, ServiceRegistry } from '@psi/core';
import { CompositeRegistry } from './composite.registry';
import { RegistryConfigError } from './errors';
import { StaticRegistry } from './static.registry';

/** A registry that records what it was asked and fails with a given error. */
class FailingRegistry implements ServiceRegistry {
  readonly asked: string[] = [];
  constructor(
    readonly name: string,
    private readonly error: Error,
  ) {}
  resolve(service: string, _hints?: ResolveHints): Promise<ServiceCoordinates> {
    this.asked.push(service);
    return Promise.reject(this.error);
  }
}

describe(CompositeRegistry, () => {
  const overrides = new StaticRegistry(
    { erp: { transport: 'http', address: 'https://erp-override' } },
    { name: 'overrides' },
  );
  const main = new StaticRegistry(
    {
      erp: { transport: 'http', address: 'https://erp' },
      supplier: [
        { transport: 'kafka', address: 'supplier-requests' },
        { transport: 'kafka', address: 'supplier-requests-test', environment: 'test' },
      ],
    },
    { name: 'main' },
  );

  describe('.resolve', () => {
    it('answers from the first registry that knows the service', async () => {
      const registry = new CompositeRegistry([overrides, main]);
      await expect(registry.resolve('erp')).resolves.toMatchObject({
        address: 'https://erp-override',
      });
      await expect(registry.resolve('supplier')).resolves.toMatchObject({
        address: 'supplier-requests',
      });
    });

    it('passes the hints on', async () => {
      const registry = new CompositeRegistry([overrides, main]);
      await expect(registry.resolve('supplier', { environment: 'test' })).resolves.toMatchObject({
        address: 'supplier-requests-test',
      });
    });

    it('lists every registry asked when none knows the service', async () => {
      const registry = new CompositeRegistry([overrides, main]);
      const error = await registry.resolve('fax').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownServiceError);
      expect(error).toMatchObject({
        code: PsiErrorCode.ServiceUnknown,
        service: 'fax',
        registriesAsked: ['overrides', 'main'],
      });
      expect((error as Error).message).toContain('overrides, main');
    });

    it('flattens the registries asked by a nested composite', async () => {
      const registry = new CompositeRegistry([
        new CompositeRegistry([overrides, main], { name: 'inner' }),
        new StaticRegistry({}, { name: 'last' }),
      ]);
      await expect(registry.resolve('fax')).rejects.toMatchObject({
        registriesAsked: ['overrides', 'main', 'last'],
      });
    });

    it('propagates any other error without asking the next registries', async () => {
      const broken = new FailingRegistry('database', new Error('connection refused'));
      const after = new FailingRegistry('after', new UnknownServiceError('erp', ['after']));
      const registry = new CompositeRegistry([overrides, broken, after]);
      await expect(registry.resolve('supplier')).rejects.toThrow('connection refused');
      expect(broken.asked).toEqual(['supplier']);
      expect(after.asked).toEqual([]);
    });

    it('moves on when an earlier registry does not know the service', async () => {
      const unknown = new FailingRegistry('remote', new UnknownServiceError('erp', ['remote']));
      const registry = new CompositeRegistry([unknown, main]);
      await expect(registry.resolve('erp')).resolves.toMatchObject({ address: 'https://erp' });
    });
  });

  it('refuses to be built without registries', () => {
    expect(() => new CompositeRegistry([])).toThrow(RegistryConfigError);
  });

  it('is named "composite" unless told otherwise', () => {
    expect(new CompositeRegistry([main]).name).toBe('composite');
  });
});
