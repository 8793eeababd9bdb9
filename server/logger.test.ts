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
});
