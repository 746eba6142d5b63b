import type { ClientResult } from './client.js';
import type { ReportLatency } from './reports.js';

/** How the benchmark's figures are printed. */

export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
export const ms = (n: number) => `${n < 10 ? n.toFixed(1) : fmt(n)} ms`;
export const percent = (ratio: number) => `${fmt(ratio * 100)} %`;
export const target = (ok: boolean, text: string) => `(target ${text}: ${ok ? 'met' : 'falls short'})`;
export const loadLine = (label: string, r: ClientResult, unit = 'events') =>
  `    ${label.padEnd(58)} ${fmt(r.eventsPerSecond).padStart(8)} ${unit}/s   p50 ${ms(r.p50)}   p99 ${ms(r.p99)}   failed ${r.failures}   ` +
  `client CPU ${r.client.cpuSeconds.toFixed(1)} s (${percent(r.client.cpuSeconds / r.client.seconds)} of a core)`;
export const reportLine = (label: string, r: ReportLatency) =>
  `    ${label.padEnd(58)} p50 ${ms(r.p50)}   p99 ${ms(r.p99)}   (${r.samples} requests, source ${r.source})`;
