// Identity state shared by every control-plane replica on one etcd: the generated CA root, the
// trust bundle, the admin token's hash and the issued-certificate bookkeeping (join tokens have
// their own store, JoinTokenStore.openEtcd). Each kind lives under `<prefix>identity/<kind>/`.
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../common/log.js';
import type { SharedAdminHash } from './auth/admin-token.js';
import type { SharedCaRoot } from './ca/ca-authority.js';
import type { TrustRoot } from './ca/ca-trust-bundle.js';
import type { IssuedRecord, SerialRecord } from './ca/workload-issuer.js';
import { EtcdRecords } from './store/etcd-records.js';

export interface SharedIdentity {
  caRoot: EtcdRecords<SharedCaRoot>;
  trust: EtcdRecords<TrustRoot>;
  admin: EtcdRecords<SharedAdminHash>;
  issued: EtcdRecords<IssuedRecord>;
  serials: EtcdRecords<SerialRecord>;
  close(): Promise<void>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const strings = (v: unknown, fields: string[]): boolean => isObject(v) && fields.every((f) => typeof v[f] === 'string');

export async function openSharedIdentity(opts: { client: Etcd3; prefix: string; logger: Logger }): Promise<SharedIdentity> {
  const open = <T>(kind: string, parse: (raw: unknown) => T | undefined) =>
    EtcdRecords.open<T>({ client: opts.client, prefix: `${opts.prefix}identity/${kind}/`, logger: opts.logger, parse });
  const opened: EtcdRecords<unknown>[] = [];
  const track = async <T>(p: Promise<EtcdRecords<T>>): Promise<EtcdRecords<T>> => {
    const r = await p;
    opened.push(r as EtcdRecords<unknown>);
    return r;
  };
  try {
    const caRoot = await track(open<SharedCaRoot>('ca', (v) => (strings(v, ['certPem', 'keyPem']) && typeof (v as SharedCaRoot).encrypted === 'boolean' ? v as SharedCaRoot : undefined)));
    const trust = await track(open<TrustRoot>('trust-bundle', (v) => (strings(v, ['fingerprint', 'subject', 'notAfter', 'pem']) ? v as TrustRoot : undefined)));
    const admin = await track(open<SharedAdminHash>('admin', (v) => (strings(v, ['sha256']) && /^[0-9a-f]{64}$/.test((v as SharedAdminHash).sha256) ? v as SharedAdminHash : undefined)));
    const issued = await track(open<IssuedRecord>('issued', (v) => (strings(v, ['proxyId', 'spiffeId', 'serial', 'notAfter']) ? v as IssuedRecord : undefined)));
    const serials = await track(open<SerialRecord>('serials', (v) => (strings(v, ['notAfter']) ? v as SerialRecord : undefined)));
    return { caRoot, trust, admin, issued, serials, close: async () => { await Promise.all(opened.map((r) => r.close())); } };
  } catch (err) {
    await Promise.all(opened.map((r) => r.close()));
    throw new Error(`cannot read the shared identity state in etcd: ${(err as Error).message}`);
  }
}
