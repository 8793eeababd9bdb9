// Mutual TLS to the Temporal frontend (issue 12, item 6: only Gatehouse should reach it). The dev
// server speaks plain gRPC only, so this suite puts a TLS terminator in front of the real one that
// demands a client certificate from its own CA (openssl makes the CA and both certificates) and
// passes the bytes through: Gatehouse's client and worker connections get in with the certificate
// the configuration names, and a connection without one is refused in the handshake.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../server/config.js';
import { temporalConnectOptions } from '../../server/temporal-tls.js';

const openssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A CA, a server certificate for localhost and a client certificate, all from openssl. */
function makeCertificates(dir: string): void {
  const key = (name: string) => openssl(dir, 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  key('ca');
  openssl(dir, 'req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=gatehouse test CA', '-days', '1', '-out', 'ca.crt', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  for (const [name, ext] of [
    ['server', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE'],
    ['client', 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE'],
  ] as const) {
    key(name);
    openssl(dir, 'req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name === 'server' ? 'localhost' : 'gatehouse-worker'}`, '-out', `${name}.csr`);
    writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  }
}

describe('Temporal over mutual TLS', () => {
  let dir: string;
  let proxy: tls.Server;
  let address: string;
  const handshakes: { authorized: boolean }[] = [];
  const file = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-mtls-'));
    makeCertificates(dir);
    const [host, port] = inject('temporalAddress').split(':');
    proxy = tls.createServer(
      { key: readFileSync(file('server.key')), cert: readFileSync(file('server.crt')), ca: readFileSync(file('ca.crt')), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] },
      (socket) => {
        handshakes.push({ authorized: socket.authorized });
        const upstream = net.connect(Number(port), host);
        socket.pipe(upstream).pipe(socket);
        const end = () => {
          socket.destroy();
          upstream.destroy();
        };
        socket.on('error', end);
        upstream.on('error', end);
      },
    );
    proxy.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => proxy?.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const settings = (more: Record<string, string>) => loadConfig({ NODE_ENV: 'test', TEMPORAL_ADDRESS: address, TEMPORAL_TLS_CA_FILE: file('ca.crt'), TEMPORAL_TLS_SERVER_NAME: 'localhost', ...more });

  it('connects the client and the worker with the configured client certificate', async () => {
    const options = temporalConnectOptions(settings({ TEMPORAL_TLS_CERT_FILE: file('client.crt'), TEMPORAL_TLS_KEY_FILE: file('client.key') }), address);
    const connection = await Connection.connect({ ...options, connectTimeout: 5000 });
    try {
      expect((await connection.workflowService.getSystemInfo({})).serverVersion).toBeTruthy();
    } finally {
      await connection.close();
    }
    const native = await NativeConnection.connect(options);
    await native.close();
    expect(handshakes.some((h) => h.authorized)).toBe(true);
  });

  it('is refused without a client certificate', async () => {
    const options = temporalConnectOptions(settings({}), address);
    const err = await Connection.connect({ ...options, connectTimeout: 3000 })
      .then(async (c) => {
        await c.workflowService.getSystemInfo({});
        await c.close();
        return undefined;
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
  });

  it('refuses half a client certificate, and names a file it cannot read', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', TEMPORAL_TLS_CERT_FILE: file('client.crt') })).toThrow(/TEMPORAL_TLS_KEY_FILE.*needs both/);
    expect(() => temporalConnectOptions(settings({ TEMPORAL_TLS_CERT_FILE: file('missing.crt'), TEMPORAL_TLS_KEY_FILE: file('client.key') }), address)).toThrow(/cannot read TEMPORAL_TLS_CERT_FILE .*missing\.crt: ENOENT/);
  });
});
