// Connector configuration schemas: published as JSON Schema with secrets marked, validated offline
// against that schema, errors naming the field; and every built-in type's schema holds together.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineConnectorConfig, secret } from './config-schema.js';
import { builtinConnectorTypes } from '../builtin-connectors.js';

const example = defineConnectorConfig(
  'example',
  z.object({ host: z.string().min(1), port: z.number().int().default(10), apiKey: secret(z.string().min(8)), tags: z.array(z.string()).default([]) }).strict(),
);

describe('connector configuration schemas', () => {
  it('marks secret fields in the published schema', () => {
    expect(example.secretFields).toEqual(['apiKey']);
    expect((example.jsonSchema.properties as Record<string, unknown>).apiKey).toMatchObject({ secret: true, writeOnly: true, type: 'string' });
  });

  it('validates offline and names the failing field', () => {
    expect(example.parse({ host: 'h', apiKey: '12345678' })).toEqual({ host: 'h', port: 10, apiKey: '12345678', tags: [] });
    expect(() => example.parse({ apiKey: '12345678' })).toThrow(expect.objectContaining({ field: 'config.host', message: 'config.host: is required' }));
    expect(() => example.parse({ host: 'h', apiKey: 'short' })).toThrow(expect.objectContaining({ field: 'config.apiKey' }));
    expect(() => example.parse({ host: 'h', apiKey: '12345678', tags: ['a', 3] })).toThrow(expect.objectContaining({ field: 'config.tags[1]' }));
    expect(() => example.parse({ host: 'h', apiKey: '12345678', extra: 1 })).toThrow(expect.objectContaining({ field: 'config.extra', message: expect.stringContaining('not a setting of example') }));
    expect(() => example.parse('nope')).toThrow(expect.objectContaining({ field: 'config' }));
  });

  it('checks settings alone without needing the secrets, and splits secrets from settings', () => {
    expect(() => example.checkSettings({ host: 'h' })).not.toThrow();
    expect(() => example.checkSettings({ port: 1 })).toThrow(expect.objectContaining({ field: 'config.host' }));
    expect(example.split({ host: 'h', apiKey: 'k' })).toEqual({ settings: { host: 'h' }, secrets: { apiKey: 'k' } });
  });

  it('refuses a secret field that is not a string (Vault KV holds strings)', () => {
    expect(() => defineConnectorConfig('bad', z.object({ n: z.number().meta({ secret: true }) }))).toThrow(/must be a string/);
  });

  it('gives every built-in type a schema whose secrets are exactly its password or token fields', () => {
    const secrets = Object.fromEntries(builtinConnectorTypes.map((t) => [t.type, [...t.secretFields]]));
    expect(secrets).toEqual({ postgresql: ['password'], ldap: ['bindPassword'], http: ['token', 'password'], scim: ['token'], file: [] });
    for (const t of builtinConnectorTypes) expect(t.jsonSchema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it("names the field in each built-in type's own offline checks", () => {
    const ldap = builtinConnectorTypes.find((t) => t.type === 'ldap')!;
    const good = { url: 'ldap://dir:389', bindDn: 'cn=svc,dc=x', bindPassword: 'p', usersDn: 'ou=people,dc=x', groupsDn: 'ou=groups,dc=x' };
    expect(() => ldap.validate(good)).not.toThrow();
    expect(() => ldap.validate({ ...good, usersDn: 'people' })).toThrow(expect.objectContaining({ field: 'config.usersDn' }));
    expect(() => ldap.validate({ ...good, url: 'http://dir' })).toThrow(expect.objectContaining({ field: 'config.url' }));
    const pg = builtinConnectorTypes.find((t) => t.type === 'postgresql')!;
    expect(() => pg.validate({ host: 'db', database: 'app', user: 'svc', password: 'p', ssl: 'require', sslRootCert: 'PEM' })).toThrow(
      expect.objectContaining({ field: 'config.sslRootCert' }),
    );
  });
});
