// About 550 lines: the store's one entry point (open, transactions, reads, notifiers) and the
// engine-state repository with its carried saves share the unwritten-state registry (and the
// riders of a carry); the carry scope, runners, notifiers and statements are files of their own.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataSource, MigrationExecutor, type EntityManager } from 'typeorm';
import type {
  EngineStateIndex,
  EngineStateListFilter,
  EngineStateRepository,
} from '../spi/engine-state-repository';
import { EngineInstanceEntity } from './entities/engine-instance.entity';
import { ConnectionRetryRunner } from './connection-retry';
import { LocalNodeLiveness, PostgresNodeLiveness, type NodeLiveness } from './node-liveness';
import { PostgresGroupCommitRunner } from './postgres-group-commit';
import { deferUpsert, flushDeferredInserts } from './deferred-inserts';
import {
  currentCarry,
  discardsCarriedStates,
  EngineStateCarry,
  runCarrying,
  type CarriedWork,
  stateKey,
  type CarriedState,
} from './engine-state-carry';

export type { EngineStateCarry } from './engine-state-carry';
import { deleteRows, findRow } from './row-statements';
import { psiEntities, psiMigrations } from './entities';
import {
  InProcessReadinessNotifier,
  PostgresReadinessNotifier,
  type ReadinessNotifier,
} from './readiness-notifier';
import { bindNumberParameters, sqliteDriver } from './sqlite-driver';
import { StoreConfigError } from '../errors';
import { compileStoreOptions, type CompiledStoreOptions, type StoreOptions } from './store-options';
import {
  GroupCommitTransactionRunner,
  PooledTransactionRunner,
  type TransactionRunner,
  type UnitOfWork,
} from './transaction-runner';

function postgresRunner(dataSource: DataSource, options: CompiledStoreOptions): TransactionRunner {
  const single = new ConnectionRetryRunner(
    new PooledTransactionRunner(dataSource),
    options.connectionRetryMs,
  );
  if (options.postgresLanes === 0) return single;
  return new PostgresGroupCommitRunner(
    dataSource,
    { lanes: options.postgresLanes, laneBacklog: options.postgresLaneBacklog },
    options.maxBatchSize,
    single,
    options.connectionRetryMs > 0,
  );
}

/**
 * PSI's durable state: a TypeORM DataSource on SQLite (default, WAL; or in memory when
 * `durability` is `volatile`) or PostgreSQL, migrated on open. Every read and write goes through {@link PsiStore.transaction}.
 */
export class PsiStore {
  private readonly runner: TransactionRunner;
  /** Engine states saved and not yet known committed, by instance: what units write of them. */
  private readonly unwrittenStates = new Map<string, CarriedState>();
  /**
   * The newest carried state of each instance that no commit wrote yet: what a load in this
   * process reads before the table. A state saved on its own is not in it: it is read once it
   * committed, so nothing this process decides on it (a claim at the wait state it puts the
   * instance at) can commit before it does and outlive it in a crash.
   */
  private readonly carriedStates = new Map<string, CarriedState>();
  /** Which of two saves of an instance came later. */
  private readonly saveOrder = new WeakMap<CarriedState, number>();
  private saves = 0;
  private notifier: ReadinessNotifier | undefined;
  private operationNotifier: ReadinessNotifier | undefined;
  private nodes: NodeLiveness | undefined;
  /**
   * Names this SQLite database for the in-process notifiers: stores on one file share them; an
   * in-memory (volatile) store is a database of its own.
   */
  private readonly sqliteIdentity: string;

  private constructor(
    readonly dataSource: DataSource,
    readonly options: CompiledStoreOptions,
  ) {
    this.sqliteIdentity =
      options.durability === 'volatile'
        ? `${options.sqlitePath}#${randomUUID()}`
        : options.sqlitePath;
    this.runner =
      options.type === 'sqlite'
        ? new GroupCommitTransactionRunner(dataSource, options.maxBatchSize)
        : postgresRunner(dataSource, options);
  }

  /** Opens (and by default migrates) the store. */
  static async open(options: StoreOptions = {}): Promise<PsiStore> {
    const compiled = compileStoreOptions(options);
    const dataSource = newDataSource(compiled);
    if (compiled.type === 'sqlite') bindNumberParameters(dataSource);
    await dataSource.initialize();
    if (compiled.type === 'sqlite') {
      // WAL lets readers in other processes work while one writes; busy_timeout makes a second
      // process wait for the write lock instead of failing.
      if (compiled.durability === 'volatile') {
        // Nothing to survive: no journal file, no sync.
        await dataSource.query('PRAGMA journal_mode = MEMORY');
        await dataSource.query('PRAGMA synchronous = OFF');
      } else {
        await dataSource.query('PRAGMA journal_mode = WAL');
        // FULL by default: an answer acknowledged to its sender survives a power loss too.
        await dataSource.query(`PRAGMA synchronous = ${compiled.durability.toUpperCase()}`);
      }
      await dataSource.query('PRAGMA busy_timeout = 15000');
      await dataSource.query('PRAGMA foreign_keys = ON');
      // Checkpoint the WAL every ~40 MiB instead of SQLite's ~4 MiB: the same hot pages (index
      // roots, table tails) are rewritten by every commit, and a checkpoint copies each once.
      // +15 % correlations/s on better-sqlite3, +3 % on sqlite3 (bench/, same run).
      await dataSource.query(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      // A 64 MiB page cache instead of SQLite's 2 MiB: with millions of rows the inner pages of
      // the hot indexes no longer fit in 2 MiB, and every statement read them again.
      await dataSource.query('PRAGMA cache_size = -65536');
    }
    if (compiled.migrate) await migrate(dataSource, compiled);
    return new PsiStore(dataSource, compiled);
  }

  get kind(): 'sqlite' | 'postgres' {
    return this.options.type;
  }

  /**
   * Runs `work` atomically; on SQLite, concurrent units share one commit. Given the `carry` of a
   * {@link carryingEngineStates} scope, the unit also writes the engine states saved in it so far.
   */
  transaction<T>(work: UnitOfWork<T>, carry?: EngineStateCarry): Promise<T> {
    if (!carry?.carries(this)) return this.runner.run(work);
    const taken = carry.take();
    if (taken.keys.length === 0 && taken.riders.length === 0) return this.runner.run(work);
    const written = new Map<string, CarriedState>();
    return this.runner
      .run(async (tx) => {
        this.writeStates(tx, taken.keys, written);
        for (const rider of taken.riders) await rider.run(tx);
        return work(tx);
      })
      .then((value) => {
        this.committed(written);
        for (const rider of taken.riders) rider.committed();
        return value;
      })
      .catch(async (error: unknown) => {
        if (discardsCarriedStates(error)) {
          // The flow undoes the scope: nothing of it is written, now or later.
          this.drop(taken, error);
          this.drop(carry.discard(), error);
          throw error;
        }
        // What the failed unit carried did not commit: the scope's next unit takes it, or (the
        // scope ended) a unit of its own writes it.
        if (!carry.giveBack(taken)) {
          await this.writeCarried(taken).catch(() => this.forgetAll(taken.keys));
        }
        throw error;
      });
  }

  /**
   * Runs `work` in the transaction that commits the engine states carried in the caller's
   * scope (the flow's next carried unit, or the scope's last): what an engine event must record
   * about the change those states make commits with them, neither before nor in a commit of its
   * own. Resolves once committed. Undefined outside an open scope of this store: the caller
   * waits for {@link carriedStatesCommitted} and runs its own unit.
   */
  rideWithCarriedStates<T>(work: UnitOfWork<T>): Promise<T> | undefined {
    const carry = currentCarry();
    if (!carry?.carries(this)) return undefined;
    return new Promise<T>((resolve, reject) => {
      let result: T;
      carry.addRider({
        run: async (tx) => {
          result = await work(tx);
        },
        committed: () => resolve(result),
        failed: reject,
      });
    });
  }

  /**
   * Runs `work` with the engine states it saves (through {@link engineStates}) carried into the
   * next unit of work it runs with the carry it is handed (`transaction(unit, carry)`) instead of
   * committed on their own (see EngineStateCarry); what no unit took is written when `work` ends.
   */
  async carryingEngineStates<T>(work: (carry: EngineStateCarry) => Promise<T>): Promise<T> {
    const carry = new EngineStateCarry(this);
    let committed = false;
    try {
      let result: T;
      try {
        result = await runCarrying(carry, () => work(carry));
      } catch (error) {
        if (carry.discarded) throw error; // undone by a unit: nothing to write
        const rest = carry.close();
        committed = await this.writeCarried(rest).then(
          () => true,
          () => {
            this.forgetAll(rest.keys);
            return false;
          },
        );
        throw error;
      }
      await this.writeCarried(carry.close());
      committed = true;
      return result;
    } finally {
      carry.markSettled(committed);
    }
  }

  /**
   * Resolves once the engine states saved so far in the caller's carrying scope have committed
   * (at once outside a scope). A carried save resolves before it commits, so work that an
   * engine event started inside the scope — the invocation of the service step a delivery's
   * signal entered — waits here before it commits its own record of the new state: that record
   * must never be durable while the state that caused it is not (a crash between the two would
   * leave an invocation for an activation the engine never durably reached). Resolves false
   * when they did not commit (discarded, or the store failed): such work records nothing.
   *
   * Ask while the scope is still settling (work an engine event starts asks at once, inside the
   * emit). A scope already settled answers true: async work keeps the context it was created
   * in (a timer armed, a connection opened in the scope), and a later flow running there is
   * not the scope's own work.
   */
  carriedStatesCommitted(): Promise<boolean> {
    const carry = currentCarry();
    return carry?.owner === this && !carry.isSettled ? carry.settled : Promise.resolve(true);
  }

  /**
   * An engine state saved: carried in the caller's scope (resolved at once, and read by loads
   * in this process until a unit commits it), else committed on its own (resolved, and read,
   * once committed).
   */
  saveState(row: CarriedState): Promise<void> {
    const key = stateKey(row);
    this.saveOrder.set(row, ++this.saves);
    this.unwrittenStates.set(key, row);
    const carry = currentCarry();
    if (carry?.carries(this)) {
      this.carriedStates.set(key, row);
      carry.add(key);
      return Promise.resolve();
    }
    return this.writeCarried({ keys: [key], riders: [] });
  }

  /**
   * The instance's (`stateKey`) carried state if no commit wrote it yet: newer than the table.
   * Not a state saved on its own and still committing: until it commits, the table's is current.
   */
  carriedState(key: string): CarriedState | undefined {
    return this.carriedStates.get(key);
  }

  /** Commits every state saved and not yet committed (before a listing reads the table). */
  async writeUnwrittenStates(): Promise<void> {
    if (this.unwrittenStates.size > 0) {
      await this.writeCarried({ keys: [...this.unwrittenStates.keys()], riders: [] });
    }
  }

  /** Carried work undone (see discardingCarriedStates): its states forgotten, its riders failed. */
  private drop({ keys, riders }: CarriedWork, error: unknown): void {
    this.forgetAll(keys);
    for (const rider of riders) rider.failed(error);
  }

  /**
   * States that could not be written (the store failed): not kept as newer than the table, where
   * another node may write the instance meanwhile. The save is lost, as a failed save was before.
   */
  private forgetAll(keys: readonly string[]): void {
    for (const key of keys) this.forgetState(key);
  }

  /** An engine state deleted: a carried save of it must not write it again. */
  forgetState(key: string): void {
    this.unwrittenStates.delete(key);
    this.carriedStates.delete(key);
  }

  /**
   * Writes carried states (and the work riding with them) in a unit of their own. When that
   * fails, the riders are told and the error rethrown.
   */
  private async writeCarried({ keys, riders }: CarriedWork): Promise<void> {
    if (keys.length === 0 && riders.length === 0) return;
    const written = new Map<string, CarriedState>();
    try {
      await this.runner.run(async (tx) => {
        this.writeStates(tx, keys, written);
        for (const rider of riders) await rider.run(tx);
      });
    } catch (error) {
      for (const rider of riders) rider.failed(error);
      throw error;
    }
    this.committed(written);
    for (const rider of riders) rider.committed();
  }

  /** States a commit wrote are forgotten, unless a newer save of the instance came since. */
  private committed(written: ReadonlyMap<string, CarriedState>): void {
    for (const [key, row] of written) {
      if (this.unwrittenStates.get(key) === row) this.unwrittenStates.delete(key);
      const carried = this.carriedStates.get(key);
      if (carried && this.savedBefore(carried, row)) this.carriedStates.delete(key);
    }
  }

  /** Whether `a` was saved no later than `b` (the same save included). */
  private savedBefore(a: CarriedState, b: CarriedState): boolean {
    return (this.saveOrder.get(a) ?? 0) <= (this.saveOrder.get(b) ?? 0);
  }

  /**
   * Upserts the instances' latest saved states with the batch's other engine states, one
   * multi-row statement before COMMIT, as they are when the rows are written (not when saved):
   * carried saves resolve before they commit, so two units may hold one instance, and the one
   * writing later must write the newer state, never an older one.
   */
  private writeStates(
    tx: EntityManager,
    keys: readonly string[],
    written: Map<string, CarriedState>,
  ): void {
    for (const key of keys) {
      deferUpsert(
        tx,
        EngineInstanceEntity,
        () => {
          const row = this.unwrittenStates.get(key);
          if (!row) return undefined; // written by a commit since, or deleted
          written.set(key, row);
          return { ...row };
        },
        ['engine', 'instanceId'],
      );
    }
  }

  /**
   * Runs read-only `work` that needs no snapshot across its statements (a background poll's
   * look at what is due): on PostgreSQL each statement runs on its own on a pooled connection,
   * without the BEGIN and COMMIT round trips a transaction adds; on SQLite it goes through the one
   * connection's queue like a transaction (it shares the batch's commit, so costs nothing more).
   */
  read<T>(work: UnitOfWork<T>): Promise<T> {
    return this.options.type === 'postgres' ? work(this.dataSource.manager) : this.runner.run(work);
  }

  /** Engine state persisted in this store, for PEAL plugins. */
  engineStates(): EngineStateRepository {
    return new StoredEngineStateRepository(this);
  }

  /**
   * Readiness notifications between the nodes sharing this store (LISTEN/NOTIFY on PostgreSQL;
   * within the process on SQLite). One per store, closed with it.
   */
  readiness(): ReadinessNotifier {
    this.notifier ??=
      this.kind === 'postgres'
        ? new PostgresReadinessNotifier(this.dataSource, this.options.schema)
        : new InProcessReadinessNotifier(`sqlite:${this.sqliteIdentity}`);
    return this.notifier;
  }

  /**
   * "An operator action waits to be run" between the processes sharing this store (a CLI, a
   * console, the nodes): LISTEN/NOTIFY on `psi_ops_<schema>` on PostgreSQL, within the process on
   * SQLite (nodes poll the store for runs submitted by other processes). One per store.
   */
  operationNotices(): ReadinessNotifier {
    this.operationNotifier ??=
      this.kind === 'postgres'
        ? new PostgresReadinessNotifier(this.dataSource, this.options.schema, undefined, 'psi_ops')
        : new InProcessReadinessNotifier(`sqlite-ops:${this.sqliteIdentity}`);
    return this.operationNotifier;
  }

  /**
   * Which nodes on this store are alive (a session-level advisory lock per node on PostgreSQL;
   * SQLite cannot tell across processes). One per store, closed with it.
   */
  liveness(): NodeLiveness {
    this.nodes ??=
      this.kind === 'postgres'
        ? new PostgresNodeLiveness(this.dataSource, this.options.schema)
        : new LocalNodeLiveness();
    return this.nodes;
  }

  async close(): Promise<void> {
    await this.operationNotifier?.close();
    await this.nodes?.close();
    await this.notifier?.close();
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/** The DataSource for the options; a driver package the application did not install is named. */
function newDataSource(options: CompiledStoreOptions): DataSource {
  try {
    return new DataSource(dataSourceOptions(options));
  } catch (error) {
    if (error instanceof Error && error.name === 'DriverPackageNotInstalledError') {
      throw new StoreConfigError(
        `${error.message} (sqliteDriver "${options.sqliteDriver}" is an optional dependency: ` +
          `npm install ${options.sqliteDriver})`,
      );
    }
    throw error;
  }
}

/** WAL pages (4 KiB) between automatic checkpoints on SQLite. */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;

// pg_advisory_lock key for "PSI migrates": several nodes starting at once migrate one at a time.
const MIGRATION_LOCK = 0x70_73_69_6d;

async function migrate(dataSource: DataSource, options: CompiledStoreOptions): Promise<void> {
  if (options.type !== 'postgres') {
    await dataSource.runMigrations({ transaction: 'all' });
    return;
  }
  // Lock, schema and migrations on one connection: a pool of one must not wait for itself.
  const runner = dataSource.createQueryRunner();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await runner.query(`CREATE SCHEMA IF NOT EXISTS "${options.schema}"`);
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'all';
    await executor.executePendingMigrations();
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

function dataSourceOptions(
  options: CompiledStoreOptions,
): ConstructorParameters<typeof DataSource>[0] {
  const common = {
    entities: [...psiEntities, ...options.entities],
    migrations: [...psiMigrations, ...options.migrations],
    migrationsTableName: 'psi_migrations',
    synchronize: false,
    logging: options.logging,
  };
  if (options.type === 'postgres') {
    return {
      ...common,
      type: 'postgres',
      url: options.url,
      schema: options.schema,
      poolSize: options.poolSize,
      // Every pooled connection resolves unqualified names in PSI's schema, so raw SQL (ours,
      // and operators') works the same in any schema.
      extra: { options: `-c search_path=${options.schema}` },
    };
  }
  if (options.durability !== 'volatile') {
    fs.mkdirSync(path.dirname(options.sqlitePath), { recursive: true });
  }
  if (options.sqliteDriver === 'better-sqlite3') {
    return { ...common, type: 'better-sqlite3', database: options.sqlitePath };
  }
  return { ...common, type: 'sqlite', database: options.sqlitePath, driver: sqliteDriver() };
}

class StoredEngineStateRepository implements EngineStateRepository {
  constructor(private readonly store: PsiStore) {}

  save(
    engine: string,
    instanceId: string,
    state: string,
    index: EngineStateIndex = {},
  ): Promise<void> {
    // In a carrying scope the row commits with the scope's next unit (PsiStore.transaction);
    // else with the batch's other engine states, one multi-row upsert before COMMIT, the save
    // resolving once that committed.
    return this.store.saveState({
      engine,
      instanceId,
      state,
      updatedAt: Date.now(),
      running: index.running ?? true,
    });
  }

  load(engine: string, instanceId: string): Promise<string | undefined> {
    // A carried save is the newest state even before a unit commits it; a save committing on
    // its own is read once it committed (PsiStore.carriedState).
    const carried = this.store.carriedState(stateKey({ engine, instanceId }));
    if (carried) return Promise.resolve(carried.state);
    // One statement, and only committed states count: on PostgreSQL it runs on its own,
    // without BEGIN and COMMIT (an engine's start looks up a new id this way every time).
    return this.store.read(async (tx) => {
      await flushDeferredInserts(tx, EngineInstanceEntity); // states saved earlier in this batch
      const row = await findRow(tx, EngineInstanceEntity, { engine, instanceId });
      return row?.state;
    });
  }

  delete(engine: string, instanceId: string): Promise<void> {
    this.store.forgetState(stateKey({ engine, instanceId }));
    return this.store.transaction(async (tx) => {
      await flushDeferredInserts(tx, EngineInstanceEntity); // a save earlier in this batch must not come after
      await deleteRows(tx, EngineInstanceEntity, { engine, instanceId });
    });
  }

  async list(engine: string, filter: EngineStateListFilter = {}): Promise<string[]> {
    await this.store.writeUnwrittenStates(); // carried saves no unit committed yet
    return this.store.transaction(async (tx) => {
      await flushDeferredInserts(tx, EngineInstanceEntity);
      const query = tx
        .createQueryBuilder(EngineInstanceEntity, 'e')
        .select('e.instanceId', 'instanceId')
        .where('e.engine = :engine', { engine });
      // Written as a bare boolean, so both databases use the partial index on running rows.
      if (filter.running === true) query.andWhere('e.running');
      if (filter.running === false) query.andWhere('NOT e.running');
      // Pages in id order: the running index is (engine, instanceId), so a page reads its rows.
      if (filter.after !== undefined)
        query.andWhere('e.instanceId > :after', { after: filter.after });
      if (filter.limit !== undefined) query.orderBy('e.instanceId', 'ASC').limit(filter.limit);
      const rows = await query.getRawMany<{ instanceId: string }>();
      return rows.map((r) => r.instanceId);
    });
  }
}
