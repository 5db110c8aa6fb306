import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnknownServiceError } from '@psi/core';
import {
  RegistryConfigError,
  RegistryErrorCode,
  RegistryFileError,
  RegistryFileUnreadableError,
} from './errors';
import { FileRegistry, type FileRegistryEvents } from './file.registry';

/** Resolves with the next `event` whose payload satisfies `accept`; rejects after a deadline. */
function next<E extends keyof FileRegistryEvents>(
  registry: FileRegistry,
  event: E,
  accept: (...args: FileRegistryEvents[E]) => boolean = () => true,
  deadlineMs = 5000,
): Promise<FileRegistryEvents[E]> {
  return new Promise((resolve, reject) => {
    const listener = (...args: FileRegistryEvents[E]): void => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      registry.off(event, listener as never);
      resolve(args);
    };
    const timer = setTimeout(() => {
      registry.off(event, listener as never);
      reject(new Error(`no "${String(event)}" event within ${deadlineMs} ms`));
    }, deadlineMs);
    registry.on(event, listener as never);
  });
}

class RecordingLogger {
  readonly warnings: string[] = [];
  warn(message: string): void {
    this.warnings.push(message);
  }
}

const good = (address: string): string =>
  JSON.stringify({
    services: {
      supplier: { transport: 'in-process', address, parkingTtlMs: 60000 },
      erp: [
        { transport: 'http', address: 'https://erp' },
        { transport: 'http', address: 'https://erp-test', environment: 'test' },
      ],
    },
  });

describe(FileRegistry, () => {
  let dir: string;
  let registry: FileRegistry | undefined;
  let logger: RecordingLogger;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'psi-file-registry-'));
    logger = new RecordingLogger();
  });

  afterEach(() => {
    registry?.close();
    registry = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  /** Writes like editors and config tools do: a temporary file renamed over the target. */
  const replace = (path: string, text: string): void => {
    const temporary = `${path}.tmp-${process.hrtime.bigint()}`;
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  };

  describe('.open', () => {
    it('loads a JSON file', async () => {
      registry = await FileRegistry.open(write('registry.json', good('supplier')), { logger });
      await expect(registry.resolve('supplier')).resolves.toEqual({
        service: 'supplier',
        transport: 'in-process',
        address: 'supplier',
        parkingTtlMs: 60000,
      });
      await expect(registry.resolve('erp', { environment: 'test' })).resolves.toMatchObject({
        address: 'https://erp-test',
      });
      expect(registry.services).toEqual(['supplier', 'erp']);
    });

    it('loads a YAML file', async () => {
      const yaml = [
        'services:',
        '  supplier:',
        '    transport: kafka',
        '    address: supplier-requests',
        '    replyAddress: supplier-replies',
        '    timeoutMs: 5000',
        '    retry: { maxAttempts: 3, initialDelayMs: 200, multiplier: 1.5, maxDelayMs: 10000 }',
        '  erp:',
        '    - { transport: http, address: "https://erp" }',
        '    - { transport: http, address: "https://erp-v2", version: "2" }',
      ].join('\n');
      registry = await FileRegistry.open(write('registry.yaml', yaml), { logger });
      await expect(registry.resolve('supplier')).resolves.toEqual({
        service: 'supplier',
        transport: 'kafka',
        address: 'supplier-requests',
        replyAddress: 'supplier-replies',
        timeoutMs: 5000,
        retry: { maxAttempts: 3, initialDelayMs: 200, multiplier: 1.5, maxDelayMs: 10000 },
      });
      await expect(registry.resolve('erp', { version: '2' })).resolves.toMatchObject({
        address: 'https://erp-v2',
      });
    });

    it('reads .yml as YAML', async () => {
      const path = write(
        'registry.yml',
        'services:\n  fax: { transport: http, address: "http://fax" }\n',
      );
      registry = await FileRegistry.open(path, { logger });
      await expect(registry.resolve('fax')).resolves.toMatchObject({ address: 'http://fax' });
    });

    it('rejects a file that does not parse, with the parser detail', async () => {
      const path = write('registry.json', '{ "services": { ');
      const error = await FileRegistry.open(path, { logger }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RegistryFileError);
      expect(error).toMatchObject({ code: RegistryErrorCode.FileInvalid, path });
      expect((error as RegistryFileError).problem).toMatch(/^not valid JSON: /);
    });

    it('rejects YAML that does not parse, with the line', async () => {
      const path = write('registry.yaml', 'services:\n  erp: { transport: http\n');
      const error = await FileRegistry.open(path, { logger }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RegistryFileError);
      expect((error as RegistryFileError).problem).toMatch(/^not valid YAML: .*line/s);
    });

    it('rejects invalid entries, naming each field', async () => {
      const path = write(
        'registry.json',
        JSON.stringify({
          services: {
            supplier: { transport: 'in-process', address: 'supplier', parkingTtlMs: '1h' },
            erp: [{ transport: 'http', address: 'https://erp', retry: { maxAttempts: 0 } }],
          },
          extra: true,
        }),
      );
      const error = (await FileRegistry.open(path, { logger }).catch(
        (e: unknown) => e,
      )) as RegistryFileError;
      expect(error).toBeInstanceOf(RegistryFileError);
      expect(error.violations.map((v) => v.path)).toEqual([
        'services.supplier.parkingTtlMs',
        'services.erp.0.retry.maxAttempts',
        'extra',
      ]);
      expect(error.message).toContain('services.supplier.parkingTtlMs');
      expect(error.toJSON()).toMatchObject({ code: 'PSI_REGISTRY_FILE_INVALID' });
    });

    it('rejects a file without services', async () => {
      const path = write('registry.yaml', '');
      const error = (await FileRegistry.open(path, { logger }).catch(
        (e: unknown) => e,
      )) as RegistryFileError;
      expect(error).toBeInstanceOf(RegistryFileError);
      expect(error.message).toContain('(file)');
    });

    it('rejects a missing file as unreadable', async () => {
      await expect(FileRegistry.open(join(dir, 'missing.json'), { logger })).rejects.toMatchObject({
        code: RegistryErrorCode.FileUnreadable,
      });
      await expect(FileRegistry.open(join(dir, 'missing.json'), { logger })).rejects.toBeInstanceOf(
        RegistryFileUnreadableError,
      );
    });

    it('rejects a file whose extension names no known format', async () => {
      await expect(FileRegistry.open(write('registry.txt', good('x')))).rejects.toBeInstanceOf(
        RegistryConfigError,
      );
    });
  });

  describe('.resolve', () => {
    it('rejects an unknown service with UnknownServiceError naming the file registry', async () => {
      const path = write('registry.json', good('supplier'));
      registry = await FileRegistry.open(path, { logger });
      await expect(registry.resolve('fax')).rejects.toMatchObject({
        service: 'fax',
        registriesAsked: [`file:${path}`],
      });
      await expect(registry.resolve('fax')).rejects.toBeInstanceOf(UnknownServiceError);
    });
  });

  describe('when the file changes', () => {
    let path: string;
    beforeEach(async () => {
      path = write('registry.json', good('supplier-v1'));
      registry = await FileRegistry.open(path, { logger, debounceMs: 20 });
    });

    it('picks up an edit written in place', async () => {
      const reloaded = next(registry!, 'reloaded');
      writeFileSync(path, good('supplier-v2'));
      const [info] = await reloaded;
      expect(info).toEqual({ path, services: ['supplier', 'erp'] });
      await expect(registry!.resolve('supplier')).resolves.toMatchObject({
        address: 'supplier-v2',
      });
    });

    it('picks up an atomic rename-replace', async () => {
      const reloaded = next(registry!, 'reloaded');
      replace(path, good('supplier-v3'));
      await reloaded;
      await expect(registry!.resolve('supplier')).resolves.toMatchObject({
        address: 'supplier-v3',
      });
    });

    it('picks up added and removed services', async () => {
      const reloaded = next(registry!, 'reloaded');
      replace(
        path,
        JSON.stringify({ services: { fax: { transport: 'http', address: 'http://fax' } } }),
      );
      await reloaded;
      await expect(registry!.resolve('fax')).resolves.toMatchObject({ address: 'http://fax' });
      await expect(registry!.resolve('supplier')).rejects.toBeInstanceOf(UnknownServiceError);
    });

    it('keeps the last good version when the edit is not valid JSON, and says why', async () => {
      const failed = next(registry!, 'reload-failed');
      replace(path, '{ "services": ');
      const [error] = await failed;
      expect(error).toBeInstanceOf(RegistryFileError);
      expect(error.code).toBe(RegistryErrorCode.FileInvalid);
      await expect(registry!.resolve('supplier')).resolves.toMatchObject({
        address: 'supplier-v1',
      });
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]).toContain('last good version stays in use');
      expect(logger.warnings[0]).toContain('not valid JSON');
    });

    it('keeps the last good version when a field is invalid, and names the field', async () => {
      const failed = next(registry!, 'reload-failed');
      replace(
        path,
        JSON.stringify({
          services: { supplier: { transport: 'in-process', address: 'x', timeoutMs: 0 } },
        }),
      );
      const [error] = await failed;
      expect((error as RegistryFileError).violations.map((v) => v.path)).toEqual([
        'services.supplier.timeoutMs',
      ]);
      expect(logger.warnings[0]).toContain('services.supplier.timeoutMs');
      await expect(registry!.resolve('supplier')).resolves.toMatchObject({
        address: 'supplier-v1',
      });
    });

    it('recovers with the next good edit', async () => {
      const failed = next(registry!, 'reload-failed');
      replace(path, 'not json');
      await failed;
      const reloaded = next(registry!, 'reloaded');
      replace(path, good('supplier-v4'));
      await reloaded;
      await expect(registry!.resolve('supplier')).resolves.toMatchObject({
        address: 'supplier-v4',
      });
    });

    it('keeps the last good version while the file is missing', async () => {
      const failed = next(
        registry!,
        'reload-failed',
        (e) => e instanceof RegistryFileUnreadableError,
      );
      rmSync(path);
      await failed;
      await expect(registry!.resolve('supplier')).resolves.toMatchObject({
        address: 'supplier-v1',
      });
      const reloaded = next(registry!, 'reloaded');
      write('registry.json', good('supplier-v5'));
      await reloaded;
      await expect(registry!.resolve('supplier')).resolves.toMatchObject({
        address: 'supplier-v5',
      });
    });

    it('does not reload for changes to other files of the directory', async () => {
      let reloads = 0;
      registry!.on('reloaded', () => (reloads += 1));
      const reloaded = next(registry!, 'reloaded');
      write('other.json', 'anything');
      replace(path, good('supplier-v6'));
      await reloaded;
      expect(reloads).toBe(1);
      await expect(registry!.resolve('supplier')).resolves.toMatchObject({
        address: 'supplier-v6',
      });
    });
  });

  describe('.reload', () => {
    it('reads the file now and rejects when it is broken', async () => {
      const path = write('registry.json', good('supplier-v1'));
      registry = await FileRegistry.open(path, { logger, watch: false });
      writeFileSync(path, good('supplier-v2'));
      await registry.reload();
      await expect(registry.resolve('supplier')).resolves.toMatchObject({ address: 'supplier-v2' });
      writeFileSync(path, '[]');
      await expect(registry.reload()).rejects.toBeInstanceOf(RegistryFileError);
      await expect(registry.resolve('supplier')).resolves.toMatchObject({ address: 'supplier-v2' });
    });
  });

  describe('.close', () => {
    it('stops watching', async () => {
      const closedPath = write('closed.json', good('closed-v1'));
      const closed = await FileRegistry.open(closedPath, { logger, debounceMs: 1 });
      const events: string[] = [];
      closed.on('reloaded', () => events.push('reloaded'));
      closed.on('reload-failed', () => events.push('reload-failed'));
      closed.close();

      // A second registry on the same directory, slower to react than the closed one would be:
      // once it has seen its edit, the closed one would have seen its own long before.
      registry = await FileRegistry.open(write('open.json', good('open-v1')), {
        logger,
        debounceMs: 200,
      });
      const reloaded = next(registry, 'reloaded');
      replace(closedPath, good('closed-v2'));
      replace(join(dir, 'open.json'), good('open-v2'));
      await reloaded;

      expect(events).toEqual([]);
      await expect(closed.resolve('supplier')).resolves.toMatchObject({ address: 'closed-v1' });
    });
  });
});
