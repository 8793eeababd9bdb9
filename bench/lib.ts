// Shared by the benchmarks: the same real services the tests use, latency percentiles, and a
// result file per benchmark in bench/results/ (not committed; the figures go in the notes).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startSharedServices } from '../test/helpers/start-services.js';
import { useSharedServices } from '../test/helpers/services.js';

export async function startBenchServices(): Promise<{ stop: () => Promise<void> }> {
  // The bench targets listen on loopback, which the connector egress policy refuses unless allowed
  // (as vitest.config.ts allows it for the tests).
  process.env.CONNECTOR_EGRESS_ALLOW ??= '127.0.0.0/8,::1,localhost';
  try {
    Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  } catch {
    /* already installed */
  }
  const { services, stop } = await startSharedServices();
  useSharedServices(services);
  return { stop };
}

export function percentile(sortedMs: number[], p: number): number {
  if (!sortedMs.length) return NaN;
  const i = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[i]!;
}

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  target?: string;
  extra?: Record<string, number | string>;
}

/** Prints the rows as a table and writes them to bench/results/<bench>.json. */
export function report(bench: string, rows: BenchRow[]): void {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${bench}.json`), JSON.stringify({ bench, at: new Date().toISOString(), rows }, null, 2));
  console.log(`\n${bench}`);
  for (const r of rows) {
    const extra = r.extra ? `  ${Object.entries(r.extra).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(2) : v}`).join(' ')}` : '';
    console.log(`  ${r.name.padEnd(48)} ${String(+r.value.toFixed(2)).padStart(12)} ${r.unit}${r.target ? `  (target ${r.target})` : ''}${extra}`);
  }
}
