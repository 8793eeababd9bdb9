// How Gatehouse's client and worker authenticate to a Temporal frontend: nothing (the embedded dev
// server, on loopback), server TLS (TEMPORAL_TLS), an API key (TEMPORAL_API_KEY, Temporal Cloud), or
// mutual TLS with a client certificate (TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE, with
// TEMPORAL_TLS_CA_FILE for a private CA). In production, the frontend should admit only Gatehouse:
// whoever reaches it can cancel or terminate workflows (approvals need Gatehouse's signature anyway).
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from './config.js';
import { StartupError } from './embedded/process.js';

type TlsSettings = Pick<Config, 'TEMPORAL_TLS' | 'TEMPORAL_TLS_CERT_FILE' | 'TEMPORAL_TLS_KEY_FILE' | 'TEMPORAL_TLS_CA_FILE' | 'TEMPORAL_TLS_SERVER_NAME' | 'TEMPORAL_API_KEY'>;

function read(path: string, name: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new StartupError(`cannot read ${name} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The connection options for Temporal's client and worker connections (the same for both). */
export function temporalConnectOptions(config: TlsSettings, address: string): { address: string; tls: boolean | TLSConfig; apiKey?: string } {
  const mutual = config.TEMPORAL_TLS_CERT_FILE && config.TEMPORAL_TLS_KEY_FILE;
  const custom = mutual || config.TEMPORAL_TLS_CA_FILE || config.TEMPORAL_TLS_SERVER_NAME;
  const tls: boolean | TLSConfig = custom
    ? {
        ...(mutual ? { clientCertPair: { crt: read(config.TEMPORAL_TLS_CERT_FILE!, 'TEMPORAL_TLS_CERT_FILE'), key: read(config.TEMPORAL_TLS_KEY_FILE!, 'TEMPORAL_TLS_KEY_FILE') } } : {}),
        ...(config.TEMPORAL_TLS_CA_FILE ? { serverRootCACertificate: read(config.TEMPORAL_TLS_CA_FILE, 'TEMPORAL_TLS_CA_FILE') } : {}),
        ...(config.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: config.TEMPORAL_TLS_SERVER_NAME } : {}),
      }
    : config.TEMPORAL_TLS;
  return { address, tls, ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}) };
}
