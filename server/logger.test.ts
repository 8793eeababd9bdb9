import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'info', destination: stream }) };
}

describe('logger', () => {
  it('writes JSON lines with level names and the service', () => {
    const { lines, log } = capture();
    log.info({ directory: 'okta' }, 'hello');
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ level: 'info', service: 'gatehouse', directory: 'okta', msg: 'hello' });
  });

  it('redacts secret-bearing fields at the top level and nested', () => {
    const { lines, log } = capture();
    log.info(
      {
        password: 'pw-top-1',
        token: 'tok-top-2',
        connector: { secret: 'sec-nested-3', clientSecret: 'cs-nested-4', name: 'ldap' },
        config: { DATABASE_URL: 'postgresql://u:dbpw-5@h/db', VAULT_TOKEN: 'hvs.6' },
        req: { headers: { authorization: 'Bearer abc-7', cookie: 'sid=8' } },
      },
      'with secrets',
    );
    const text = lines.join('');
    for (const value of ['pw-top-1', 'tok-top-2', 'sec-nested-3', 'cs-nested-4', 'dbpw-5', 'hvs.6', 'abc-7', 'sid=8']) {
      expect(text).not.toContain(value);
    }
    expect(text).toContain('ldap');
    expect(text).toContain('[redacted]');
  });

  it('redacts at any depth, in arrays, in any case, in errors and their causes, and in child bindings', () => {
    const { lines, log } = capture();
    const upstream = Object.assign(new Error('request failed'), { config: { headers: { Authorization: 'Bearer err-hdr-1' }, data: { secret_id: 'err-sid-2' } } });
    const err = Object.assign(new Error('rotation failed', { cause: upstream }), { response: { headers: { authorization: 'err-hdr-0' } } });
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    log.child({ connector: { settings: { auth: { clientSecret: 'bind-cs-3' } } } }).child({ run: { key: { apiKey: 'bind-ak-6' } } }).error(
      {
        err,
        a: { b: { c: { d: { e: { f: { password: 'deep-pw-4' } } } } } },
        list: [{ item: [{ Token: 'arr-tok-5' }] }],
        loop,
        when: new Date(0),
      },
      'deep',
    );
    const text = lines.join('');
    for (const value of ['err-hdr-0', 'err-hdr-1', 'err-sid-2', 'bind-cs-3', 'deep-pw-4', 'arr-tok-5', 'bind-ak-6']) expect(text).not.toContain(value);
    const line = JSON.parse(lines[0]!);
    expect(line.err).toMatchObject({ type: 'Error', message: 'rotation failed: request failed', response: { headers: { authorization: '[redacted]' } } });
    expect(line.err.stack).toMatch(/rotation failed/);
    expect(line.a.b.c.d.e.f).toEqual({ password: '[redacted]' });
    expect(line.loop).toEqual({ name: 'loop', self: '[circular]' });
    expect(line.when).toBe('1970-01-01T00:00:00.000Z');
    expect(line.connector.settings.auth.clientSecret).toBe('[redacted]');
    expect(line.run.key.apiKey).toBe('[redacted]');
  });
});
