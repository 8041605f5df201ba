import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import type { DeliveryStats } from '../api/client';

const SERIES: [keyof DeliveryStats['data'][number], string, string][] = [
  ['ACCEPTED', 'Accepted', '#1e7b3c'],
  ['DISPATCHED', 'Dispatched', '#b57600'],
  ['REJECTED', 'Rejected', '#8e44ad'],
  ['FAILED', 'Failed', '#c0392b'],
  ['RETRYABLE', 'Retryable', '#5d6778'],
];

/**
 * Attempts per bucket by outcome, as stacked-free lines (uPlot: a canvas, ~50 KB, no inline
 * `<style>`: it sets sizes through the DOM, which the console's CSP allows). A table of the same
 * figures follows for screen readers.
 */
export function DeliveriesChart({ stats, title }: { stats: DeliveryStats; title: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const xs = stats.data.map((d) => Date.parse(d.at) / 1000);
    const data: uPlot.AlignedData = [xs, ...SERIES.map(([k]) => stats.data.map((d) => Number(d[k])))];
    const width = Math.max(320, el.clientWidth);
    const plot = new uPlot(
      {
        width,
        height: 220,
        series: [{}, ...SERIES.map(([, label, stroke]) => ({ label, stroke, width: 2, points: { show: false } }))],
        axes: [{}, { label: 'attempts', size: 50 }],
        scales: { x: { time: true } },
        legend: { show: true },
      },
      data,
      el,
    );
    const resize = () => plot.setSize({ width: Math.max(320, el.clientWidth), height: 220 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [stats]);
  const totals = SERIES.map(([k, label]) => [label, stats.data.reduce((n, d) => n + Number(d[k]), 0)] as const);
  return (
    <figure aria-label={title}>
      <div ref={ref} data-testid={`chart-${stats.bucket}`} role="img" aria-label={`${title}: ${totals.map(([l, n]) => `${l} ${n}`).join(', ')}`} />
      <figcaption>
        {title}: {totals.map(([l, n]) => `${l} ${n}`).join(' · ')}
      </figcaption>
    </figure>
  );
}
