// GET /metrics: Prometheus text (prom-client) for whoever holds read:System, such as an operator's
// monitoring token. Its own registry, so nothing another library registers leaks in. The ledger's
// health is here first (issue 12, item 7): its size, what the newest signed checkpoint covers, how
// old that checkpoint is, and whether checkpoints are late by the same rule /readyz warns with. The
// rest of what an operator needs (requests, changes, approvals, outbox, runs) is issue 16.
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import { checkpointLag, type Ledger } from '../audit/index.js';
import { defineRoute, type ApiRoute } from '../shared/http/api-route.js';

export function createMetrics(deps: { ledger: Pick<Ledger, 'head' | 'latestCheckpoint' | 'get'>; checkpointIntervalMs: number }): { registry: Registry; routes: ApiRoute[] } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  const registers = [registry];

  new Gauge({
    name: 'gatehouse_ledger_entries',
    help: 'Entries in the audit ledger',
    registers,
    async collect() {
      this.set((await deps.ledger.head()).size);
    },
  });
  new Gauge({
    name: 'gatehouse_ledger_checkpoint_entries',
    help: 'Entries the newest signed ledger checkpoint covers (0 before the first)',
    registers,
    async collect() {
      this.set((await deps.ledger.latestCheckpoint())?.treeSize ?? 0);
    },
  });
  new Gauge({
    name: 'gatehouse_ledger_checkpoint_age_seconds',
    help: 'Seconds since the newest signed ledger checkpoint (absent before the first)',
    registers,
    async collect() {
      this.reset();
      const latest = await deps.ledger.latestCheckpoint();
      if (latest) this.set((Date.now() - new Date(latest.timestamp).getTime()) / 1000);
    },
  });
  new Gauge({
    name: 'gatehouse_ledger_checkpoint_late',
    help: 'Whether ledger checkpoints are late: 1 when an entry no signed checkpoint covers has waited more than twice LEDGER_CHECKPOINT_INTERVAL_SECONDS',
    registers,
    async collect() {
      this.set((await checkpointLag(deps.ledger, deps.checkpointIntervalMs)) ? 1 : 0);
    },
  });

  const routes = [
    defineRoute({
      method: 'get',
      path: '/metrics',
      summary: "Gatehouse's metrics in the Prometheus text format",
      tags: ['system'],
      access: { action: 'read', subject: 'System' },
      responses: { 200: { description: 'the metrics', schema: z.string(), contentType: 'text/plain; version=0.0.4' } },
      handler: async (_req, res) => {
        const text = await registry.metrics();
        res.setHeader('Cache-Control', 'no-store').type(registry.contentType).send(text);
      },
    }),
  ];
  return { registry, routes };
}
