import { Writable } from 'node:stream';
import http from 'node:http';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { redactUrl, requestLog } from './request-log.js';
import { createApp } from '../app.js';

describe('request log', () => {
  it('redacts OAuth values and SCIM filters from URLs', () => {
    expect(redactUrl('/api/auth/oidc/okta/callback?code=abc&state=xyz')).toBe('/api/auth/oidc/okta/callback?code=[redacted]&state=[redacted]');
    expect(redactUrl('/scim/v2/Users?filter=userName%20eq%20%22ada%40x.com%22&count=1')).toBe('/scim/v2/Users?filter=[redacted]&count=1');
    expect(redactUrl('/api/runs?identity=x')).toBe('/api/runs?identity=x');
  });

  it('writes one line per request with its id, status and time, and none for probes', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
    const app = express();
    app.use(requestLog(log));
    app.get('/healthz', (_req, res) => res.send('ok'));
    app.get('/x', (_req, res) => res.status(404).send('no'));
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const res = await fetch(`${base}/x?filter=secret-name`, { headers: { 'X-Request-Id': 'idp-123' } });
      expect(res.headers.get('x-request-id')).toBe('idp-123');
      await fetch(`${base}/healthz`);
      await new Promise((r) => setTimeout(r, 20));
      expect(lines).toHaveLength(1);
      const line = JSON.parse(lines[0]!);
      expect(line).toMatchObject({ level: 'warn', req: { id: 'idp-123', method: 'GET', url: '/x?filter=[redacted]' }, res: { statusCode: 404 } });
      expect(line.responseTime).toBeGreaterThanOrEqual(0);
      expect(lines[0]).not.toContain('secret-name');
    } finally {
      server.close();
    }
  });

  it('logs protocol requests (SCIM) the same way, and gives them their security headers', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
    const seen: string[] = [];
    const app = createApp({
      log,
      routes: [],
      authorize: () => {
        throw new Error('no admin API here');
      },
      protocols: [{ path: '/scim/v2', handle: (_req, res, rest) => (seen.push(rest), (res.statusCode = 404), res.end()) }],
    });
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const res = await fetch(`${base}/SCIM/v2/Users?filter=userName%20eq%20%22ada%22`);
      expect(res.status).toBe(404);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect((await fetch(`${base}/scim/v2x`)).headers.get('content-type')).toContain('application/json');
      await new Promise((r) => setTimeout(r, 20));
      expect(seen).toEqual(['/Users']);
      const line = JSON.parse(lines.find((l) => l.includes('/SCIM/v2'))!);
      expect(line).toMatchObject({ level: 'warn', req: { method: 'GET', url: '/SCIM/v2/Users?filter=[redacted]' }, res: { statusCode: 404 } });
    } finally {
      server.close();
    }
  });
});
