import { PsiError, PsiErrorCode, UnknownServiceError } from '@psi/core';
import { RegistryEntryError, RegistryErrorCode } from './errors';
import { StaticRegistry } from './static.registry';
import type { ServiceEntries } from './service-entries';

describe(StaticRegistry, () => {
  const entries: ServiceEntries = {
    supplier: { transport: 'in-process', address: 'supplier', parkingTtlMs: 60000 },
    erp: [
      { transport: 'http', address: 'https://erp', retry: { maxAttempts: 3 } },
      { transport: 'http', address: 'https://erp-test', environment: 'test' },
      { transport: 'http', address: 'https://erp-v2', version: '2' },
      { transport: 'http', address: 'https://erp-v2-test', version: '2', environment: 'test' },
      { transport: 'http', address: 'https://erp-acme', tenant: 'acme' },
    ],
  };

  describe('.resolve', () => {
    it('answers with the coordinates, the service filled from the key', async () => {
      const registry = new StaticRegistry(entries);
      await expect(registry.resolve('supplier')).resolves.toEqual({
        service: 'supplier',
        transport: 'in-process',
        address: 'supplier',
        parkingTtlMs: 60000,
      });
    });

    it('answers with a copy, so callers cannot change the registry', async () => {
      const registry = new StaticRegistry(entries);
      const first = await registry.resolve('erp');
      first.retry!.maxAttempts = 99;
      first.address = 'changed';
      await expect(registry.resolve('erp')).resolves.toMatchObject({
        address: 'https://erp',
        retry: { maxAttempts: 3 },
      });
    });

    describe('having variants', () => {
      const registry = new StaticRegistry(entries);
      const addressFor = async (hints?: object): Promise<string> =>
        (await registry.resolve('erp', hints)).address;

      it('picks the variant without variant fields when no hints are given', async () => {
        await expect(addressFor()).resolves.toBe('https://erp');
      });

      it('picks the exact match of the given hints', async () => {
        await expect(addressFor({ environment: 'test' })).resolves.toBe('https://erp-test');
        await expect(addressFor({ version: '2' })).resolves.toBe('https://erp-v2');
        await expect(addressFor({ tenant: 'acme' })).resolves.toBe('https://erp-acme');
      });

      it('prefers the most specific match', async () => {
        await expect(addressFor({ version: '2', environment: 'test' })).resolves.toBe(
          'https://erp-v2-test',
        );
      });

      it('falls back to variants without the hinted field', async () => {
        await expect(addressFor({ version: '3' })).resolves.toBe('https://erp');
        await expect(addressFor({ version: '2', environment: 'prod' })).resolves.toBe(
          'https://erp-v2',
        );
      });

      it('never picks a variant whose field was not hinted', async () => {
        const onlyTest = new StaticRegistry({
          crm: { transport: 'http', address: 'https://crm-test', environment: 'test' },
        });
        await expect(onlyTest.resolve('crm')).rejects.toBeInstanceOf(UnknownServiceError);
        await expect(onlyTest.resolve('crm', { environment: 'test' })).resolves.toMatchObject({
          address: 'https://crm-test',
        });
      });
    });

    it('rejects an unknown service with UnknownServiceError naming the registry', async () => {
      const registry = new StaticRegistry(entries, { name: 'overrides' });
      const error = await registry.resolve('fax').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownServiceError);
      expect(error).toMatchObject({
        code: PsiErrorCode.ServiceUnknown,
        service: 'fax',
        registriesAsked: ['overrides'],
      });
    });
  });

  describe('constructor', () => {
    const invalid = (bad: unknown): RegistryEntryError => {
      try {
        new StaticRegistry(bad as ServiceEntries);
      } catch (error) {
        expect(error).toBeInstanceOf(RegistryEntryError);
        return error as RegistryEntryError;
      }
      throw new Error('expected a RegistryEntryError');
    };

    it('names the service and the field of an invalid entry', () => {
      const error = invalid({ supplier: { transport: 'http' } });
      expect(error.code).toBe(RegistryErrorCode.EntryInvalid);
      expect(PsiError.is(error)).toBe(true);
      expect(error.services).toEqual(['supplier']);
      expect(error.violations).toEqual([
        {
          path: 'supplier.address',
          messages: expect.arrayContaining(['address should not be empty']),
        },
      ]);
      expect(error.message).toContain('supplier.address');
    });

    it('names the variant index in a list', () => {
      const error = invalid({
        erp: [
          { transport: 'http', address: 'a' },
          { transport: 'http', address: 'b', timeoutMs: -1, retry: { multiplier: 0.5 } },
        ],
      });
      expect(error.violations.map((v) => v.path)).toEqual([
        'erp.1.timeoutMs',
        'erp.1.retry.multiplier',
      ]);
    });

    it('rejects unknown fields, so typos do not pass silently', () => {
      const error = invalid({ erp: { transport: 'http', address: 'a', timeoutMS: 5 } });
      expect(error.violations).toEqual([
        { path: 'erp.timeoutMS', messages: ['property timeoutMS should not exist'] },
      ]);
    });

    it('rejects two variants with the same version, environment and tenant', () => {
      const error = invalid({
        erp: [
          { transport: 'http', address: 'a', environment: 'test' },
          { transport: 'http', address: 'b', environment: 'test' },
        ],
      });
      expect(error.violations.map((v) => v.path)).toEqual(['erp.1']);
    });

    it('rejects a service field that differs from the key, an empty list and a non-object', () => {
      const error = invalid({
        erp: { service: 'crm', transport: 'http', address: 'a' },
        crm: [],
        fax: 'http://fax',
      });
      expect(error.violations.map((v) => v.path)).toEqual(['erp.service', 'crm', 'fax']);
    });
  });
});
