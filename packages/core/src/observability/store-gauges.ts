import {
  metrics,
  type BatchObservableCallback,
  type Meter,
  type Observable,
  type ObservableGauge,
} from '@opentelemetry/api';
import { readPopulation, type Population } from '../records/population';
import type { PsiStore } from '../store/psi-store';
import type { ObservabilityOptions } from './observability-options';

/** The default of `ObservabilityOptions.gaugeCacheMs`. */
export const DEFAULT_GAUGE_CACHE_MS = 5_000;

/**
 * Observable gauges of what waits and what is stuck, read from the store (so every node reports
 * the same, whichever node wrote the rows; aggregate them with max or last, not sum). One read
 * (`readPopulation`, six indexed statements) serves a scrape; a reading is kept `gaugeCacheMs`
 * so frequent scrapes, or several readers, do not hammer the store. A failed read reports
 * nothing for that scrape (the store being down is what the other signals show).
 */
export class StoreGauges {
  private readonly meter: Meter;
  private readonly gauges: {
    open: ObservableGauge;
    parked: ObservableGauge;
    oldest: ObservableGauge;
    letters: ObservableGauge;
    frozen: ObservableGauge;
    guards: ObservableGauge;
  };
  private readonly callback: BatchObservableCallback;
  private reading: { at: number; population: Promise<Population> } | undefined;
  private readonly cacheMs: number;

  constructor(
    options: ObservabilityOptions,
    private readonly store: PsiStore,
    private readonly clock: () => number,
  ) {
    this.meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter('@psi/core');
    this.cacheMs = options.gaugeCacheMs ?? DEFAULT_GAUGE_CACHE_MS;
    const gauge = (name: string, description: string, unit = '1'): ObservableGauge =>
      this.meter.createObservableGauge(name, { description, unit });
    this.gauges = {
      open: gauge('psi.store.expectations.open', 'Open expectations', '{expectation}'),
      parked: gauge('psi.store.parked_answers', 'Parked answers within their TTL', '{message}'),
      oldest: gauge('psi.store.parked_answers.oldest_age', 'Age of the oldest parked answer', 's'),
      letters: gauge('psi.store.dead_letters.open', 'Open dead letters, by reason', '{message}'),
      frozen: gauge('psi.store.invocations.frozen', 'Frozen invocations', '{invocation}'),
      guards: gauge('psi.store.guards.held', 'Process guards held', '{guard}'),
    };
    this.callback = async (observer) => {
      let population: Population;
      try {
        population = await this.read();
      } catch {
        return;
      }
      const g = this.gauges;
      observer.observe(g.open, population.openExpectations);
      observer.observe(g.parked, population.parkedAnswers);
      const oldest = population.oldestParkedAt;
      observer.observe(g.oldest, oldest === null ? 0 : Math.max(0, this.clock() - oldest) / 1000);
      for (const [reason, count] of population.openDeadLetters)
        observer.observe(g.letters, count, { 'psi.dead_letter.reason': reason });
      observer.observe(g.frozen, population.frozenInvocations);
      observer.observe(g.guards, population.heldGuards);
    };
  }

  start(): void {
    this.meter.addBatchObservableCallback(
      this.callback,
      Object.values(this.gauges) as Observable[],
    );
  }

  stop(): void {
    this.meter.removeBatchObservableCallback(
      this.callback,
      Object.values(this.gauges) as Observable[],
    );
  }

  /** The cached reading, or a new one (concurrent scrapes share it). Real time: a cache. */
  private read(): Promise<Population> {
    const now = Date.now();
    if (this.reading && now - this.reading.at < this.cacheMs) return this.reading.population;
    const population = this.store.transaction((tx) => readPopulation(tx, this.clock()));
    this.reading = { at: now, population };
    population.catch(() => {
      if (this.reading?.population === population) this.reading = undefined;
    });
    return population;
  }
}
