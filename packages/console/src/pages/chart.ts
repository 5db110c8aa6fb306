import type { ActivitySeries } from '@psi/core';
import { html, type SafeHtml } from '../html';

const W = 720;
const H = 160;
const PAD = 24;

/** Parked / dead-lettered / delivered per bucket as grouped bars (inline SVG, no script). */
export function activityChart(series: ActivitySeries): SafeHtml {
  const buckets = series.buckets;
  const max = Math.max(1, ...buckets.flatMap((b) => [b.parked, b.deadLettered, b.delivered]));
  const slot = (W - PAD * 2) / Math.max(1, buckets.length);
  const bar = Math.max(1, slot / 4);
  const y = (n: number) => H - PAD - ((H - PAD * 2) * n) / max;
  const bars = buckets.map((b, i) => {
    const x = PAD + i * slot;
    const rect = (n: number, k: number, cls: string, label: string) =>
      n > 0
        ? html`<rect
            class="${cls}"
            x="${(x + k * bar).toFixed(1)}"
            y="${y(n).toFixed(1)}"
            width="${bar.toFixed(1)}"
            height="${(H - PAD - y(n)).toFixed(1)}"
            ><title>${label}: ${n} at ${new Date(b.at).toISOString()}</title></rect
          >`
        : '';
    return [
      rect(b.delivered, 0, 'delivered', 'delivered'),
      rect(b.parked, 1, 'parked', 'parked'),
      rect(b.deadLettered, 2, 'dead', 'dead-lettered'),
    ];
  });
  const hours = Math.round((series.bucketMs * buckets.length) / 3_600_000);
  return html`<figure class="chart">
    <svg
      viewBox="0 0 ${W} ${H}"
      role="img"
      aria-label="answers delivered, parked and dead-lettered over the last ${hours} h"
    >
      <line class="axis" x1="${PAD}" y1="${H - PAD}" x2="${W - PAD}" y2="${H - PAD}" />
      <text class="axis-label" x="${PAD}" y="${PAD - 8}">${max}</text>
      <text class="axis-label" x="${PAD}" y="${H - 6}">${hours} h ago</text>
      <text class="axis-label" x="${W - PAD}" y="${H - 6}" text-anchor="end">now</text>
      ${bars}
    </svg>
    <figcaption>
      <span class="key delivered">delivered</span> <span class="key parked">parked</span>
      <span class="key dead">dead-lettered</span> per ${Math.round(series.bucketMs / 60_000)} min
    </figcaption>
  </figure>`;
}
