/** Client and worker connections to Temporal: a local dev server, a self-hosted cluster (mTLS) or Temporal Cloud (API key). */
import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config';

type TemporalSettings = Pick<
  Config,
  | 'TEMPORAL_NAMESPACE'
  | 'TEMPORAL_TLS_CERT_PATH'
  | 'TEMPORAL_TLS_KEY_PATH'
  | 'TEMPORAL_TLS_CA_PATH'
  | 'TEMPORAL_TLS_SERVER_NAME'
  | 'TEMPORAL_API_KEY'
>;

function tlsOptions(cfg: TemporalSettings) {
  if (cfg.TEMPORAL_TLS_CERT_PATH && cfg.TEMPORAL_TLS_KEY_PATH) {
    return {
      clientCertPair: {
        crt: fs.readFileSync(cfg.TEMPORAL_TLS_CERT_PATH),
        key: fs.readFileSync(cfg.TEMPORAL_TLS_KEY_PATH),
      },
      ...(cfg.TEMPORAL_TLS_CA_PATH
        ? { serverRootCACertificate: fs.readFileSync(cfg.TEMPORAL_TLS_CA_PATH) }
        : {}),
      ...(cfg.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: cfg.TEMPORAL_TLS_SERVER_NAME } : {}),
    };
  }
  // Temporal Cloud API keys require TLS
  return cfg.TEMPORAL_API_KEY ? true : undefined;
}

export async function connectClient(address: string, cfg: TemporalSettings): Promise<Client> {
  const tls = tlsOptions(cfg);
  const connection = await Connection.connect({
    address,
    ...(tls ? { tls } : {}),
    ...(cfg.TEMPORAL_API_KEY ? { apiKey: cfg.TEMPORAL_API_KEY.reveal() } : {}),
  });
  return new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE });
}

export async function connectWorker(address: string, cfg: TemporalSettings): Promise<NativeConnection> {
  const tls = tlsOptions(cfg);
  return NativeConnection.connect({
    address,
    ...(tls ? { tls } : {}),
    ...(cfg.TEMPORAL_API_KEY ? { apiKey: cfg.TEMPORAL_API_KEY.reveal() } : {}),
  });
}
