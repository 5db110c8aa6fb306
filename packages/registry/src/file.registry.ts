import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve as resolvePath } from 'node:path';
import { UnknownServiceError } from '@psi/core';
import type { ResolveHints, ServiceCoordinates, ServiceRegistry } from '@psi/core';
import { parse as parseYaml } from 'yaml';
import { RegistryConfigError, RegistryFileError, RegistryFileUnreadableError } from './errors';
import type { RegistryLogger } from './registry-logger';
import { selectVariant } from './select-variant';
import { validateServiceEntries, type ServiceTable } from './service-entries';

/** Options of {@link FileRegistry.open}. */
export interface FileRegistryOptions {
  /** Name reported in errors and by `UnknownServiceError`. @default `file:<absolute path>` */
  name?: string;
  /** Told why an edit was not applied. @default console */
  logger?: RegistryLogger;
  /** Quiet time after the last change event before the file is read again. @default 100 */
  debounceMs?: number;
  /** Watch the file and reload on change; `false` loads once. @default true */
  watch?: boolean;
}

/** What a reload that took effect reports. */
export interface FileRegistryReloaded {
  path: string;
  /** Names of the services the file now holds. */
  services: string[];
}

/** Events of {@link FileRegistry}. */
export interface FileRegistryEvents {
  /** A changed file was read and validated; resolve answers from it from now on. */
  reloaded: [info: FileRegistryReloaded];
  /** A changed file was rejected; resolve keeps answering from the last good version. */
  'reload-failed': [error: RegistryFileError | RegistryFileUnreadableError];
}

type Format = 'json' | 'yaml';

const formats: Record<string, Format> = { '.json': 'json', '.yaml': 'yaml', '.yml': 'yaml' };

/**
 * A registry read from a JSON or YAML file (chosen by extension) of the form
 * `{ services: { supplier: { transport, address, ... } | [ ...variants ] } }`.
 *
 * It reloads on change without a restart: it watches the file's directory, so in-place writes,
 * atomic rename-replace and Kubernetes ConfigMap symlink swaps are all seen. An edit that does
 * not parse or validate is not applied: the last good version stays in use, the logger is told
 * why and `reload-failed` is emitted; a good edit emits `reloaded`.
 */
export class FileRegistry extends EventEmitter<FileRegistryEvents> implements ServiceRegistry {
  readonly name: string;
  private table: ServiceTable = new Map();
  private lastSeenText: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    /** Absolute path of the registry file. */
    readonly path: string,
    private readonly format: Format,
    private readonly logger: RegistryLogger,
    private readonly debounceMs: number,
    name: string | undefined,
  ) {
    super();
    this.name = name ?? `file:${path}`;
  }

  /**
   * Loads the file and starts watching it. Rejects with {@link RegistryFileError} (parse or
   * validation detail) or {@link RegistryFileUnreadableError} when the file is not usable now.
   */
  static async open(path: string, options: FileRegistryOptions = {}): Promise<FileRegistry> {
    const absolute = resolvePath(path);
    const format = formats[extname(absolute).toLowerCase()];
    if (!format) {
      throw new RegistryConfigError(
        `registry file ${absolute} must end with .json, .yaml or .yml to tell its format`,
      );
    }
    const registry = new FileRegistry(
      absolute,
      format,
      options.logger ?? console,
      options.debounceMs ?? 100,
      options.name,
    );
    // Watch first, so an edit made while the first load runs is not missed.
    if (options.watch ?? true) registry.startWatching();
    try {
      const text = await registry.read();
      registry.table = registry.parse(text);
      registry.lastSeenText = text;
    } catch (error) {
      registry.close();
      throw error;
    }
    return registry;
  }

  /** Names of the services the registry currently holds. */
  get services(): string[] {
    return [...this.table.keys()];
  }

  resolve(service: string, hints?: ResolveHints): Promise<ServiceCoordinates> {
    const found = selectVariant(this.table.get(service) ?? [], hints);
    if (!found) return Promise.reject(new UnknownServiceError(service, [this.name]));
    return Promise.resolve(structuredClone(found));
  }

  /**
   * Reads the file now, even if it looks unchanged. On failure the last good version stays,
   * the logger is told, `reload-failed` is emitted, and the returned promise rejects too.
   */
  reload(): Promise<void> {
    return this.enqueue(true);
  }

  /** Stops watching; resolve keeps answering from the last good version. Idempotent. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  private startWatching(): void {
    // The directory, not the file: a watch on the file dies when the file is replaced by rename.
    // Any event in it triggers a (debounced) read; unchanged content is ignored.
    const watcher = watch(dirname(this.path), { persistent: false }, () => this.scheduleReload());
    watcher.on('error', (error) => {
      this.logger.warn(
        `Registry file ${this.path} is no longer watched; restart to pick up edits: ${error.message}`,
      );
    });
    this.watcher = watcher;
  }

  private scheduleReload(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Failures are already logged and emitted as 'reload-failed'.
      this.enqueue(false).catch(() => undefined);
    }, this.debounceMs);
    this.timer.unref();
  }

  /** Reloads one at a time, in order, so an older read never overwrites a newer one. */
  private enqueue(force: boolean): Promise<void> {
    const run = this.queue.then(() => this.load(force));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async load(force: boolean): Promise<void> {
    let table: ServiceTable;
    try {
      const text = await this.read();
      if (!force && text === this.lastSeenText) return;
      this.lastSeenText = text;
      table = this.parse(text);
    } catch (error) {
      const failure =
        error instanceof RegistryFileError || error instanceof RegistryFileUnreadableError
          ? error
          : new RegistryFileError(this.path, String(error), [], { cause: error });
      if (failure instanceof RegistryFileUnreadableError) this.lastSeenText = undefined;
      if (!this.closed) {
        this.logger.warn(
          `Registry file ${this.path} was not reloaded; the last good version stays in use. ${failure.message}`,
        );
        this.emit('reload-failed', failure);
      }
      throw failure;
    }
    if (this.closed) return;
    this.table = table;
    this.emit('reloaded', { path: this.path, services: [...table.keys()] });
  }

  private async read(): Promise<string> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (error) {
      throw new RegistryFileUnreadableError(this.path, error);
    }
  }

  private parse(text: string): ServiceTable {
    let content: unknown;
    try {
      content = this.format === 'json' ? JSON.parse(text) : parseYaml(text);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new RegistryFileError(
        this.path,
        `not valid ${this.format.toUpperCase()}: ${detail}`,
        [],
        {
          cause: error,
        },
      );
    }
    if (typeof content !== 'object' || content === null || Array.isArray(content)) {
      throw new RegistryFileError(this.path, 'it must hold an object with a "services" key', [
        { path: '(file)', messages: ['must be an object with a "services" key'] },
      ]);
    }
    const extra = Object.keys(content).filter((key) => key !== 'services' && key !== '$schema');
    const { table, violations } = validateServiceEntries(
      (content as { services?: unknown }).services,
      'services',
    );
    for (const key of extra) {
      violations.push({ path: key, messages: [`unknown key "${key}"; only "services" is read`] });
    }
    if (violations.length > 0) {
      throw new RegistryFileError(
        this.path,
        `${basename(this.path)} has invalid entries`,
        violations,
      );
    }
    return table;
  }
}
