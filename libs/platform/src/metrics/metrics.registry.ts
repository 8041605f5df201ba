import { Injectable } from '@nestjs/common';
import {
  collectDefaultMetrics,
  Counter,
  CounterConfiguration,
  Gauge,
  GaugeConfiguration,
  Histogram,
  HistogramConfiguration,
  Metric,
  Registry,
} from 'prom-client';

/**
 * This process's Prometheus metrics, served at `/metrics`. Any service module injects it and adds
 * its own (the projection its counts, the dispatcher its breakers). One registry per application,
 * never prom-client's global one: several Waybill applications may share a process (tests, the
 * standalone app) and must not mix their series.
 *
 * `counter`, `gauge` and `histogram` return the metric already registered under the name, so
 * that two providers (or two instances of one) may ask for the same metric.
 */
@Injectable()
export class MetricsRegistry {
  readonly registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  counter<L extends string = string>(config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
    return this.getOrCreate(config.name, () => new Counter<L>({ ...config, registers: [this.registry] }));
  }

  gauge<L extends string = string>(config: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
    return this.getOrCreate(config.name, () => new Gauge<L>({ ...config, registers: [this.registry] }));
  }

  histogram<L extends string = string>(config: Omit<HistogramConfiguration<L>, 'registers'>): Histogram<L> {
    return this.getOrCreate(config.name, () => new Histogram<L>({ ...config, registers: [this.registry] }));
  }

  /** The exposition text, and its content type. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private getOrCreate<M extends Metric>(name: string, create: () => M): M {
    return (this.registry.getSingleMetric(name) as M | undefined) ?? create();
  }
}

/**
 * Wraps an expensive read (a query, a broker round trip) so that a scrape reuses the last answer
 * for `maxAgeMs`, and concurrent scrapes share one read.
 */
export function cached<T>(maxAgeMs: number, read: () => Promise<T>): () => Promise<T> {
  let value: { at: number; result: Promise<T> } | null = null;
  return () => {
    const now = Date.now();
    if (!value || now - value.at >= maxAgeMs) {
      const result = read();
      value = { at: now, result };
      // A failed read is not kept: the next scrape tries again.
      result.catch(() => {
        if (value?.result === result) value = null;
      });
    }
    return value.result;
  };
}
