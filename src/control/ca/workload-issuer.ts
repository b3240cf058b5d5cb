// Turns a sidecar's CSR into its workload certificate. The first certificate is authorized by a
// join token bound to one service; renewals by the current certificate (signed proof of its key),
// so a sidecar keeps its identity after its join token expires, but not after it is revoked.
import { verify } from 'node:crypto';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import type { JoinTokenStore } from '../auth/join-token-store.js';
import { readOptionalFile, writeSecretFile } from '../auth/secret-file.js';
import type { CertificateAuthority, IssuedCertificate } from './ca-authority.js';
import type { EtcdRecords } from '../store/etcd-records.js';
import { parseSpiffeId, spiffeId } from './spiffe-id.js';

export const defaultCertTtlMs = 24 * 3_600_000;
export const minCertTtlMs = 60_000;

/** `POST /api/v1/certificates` body. */
export interface CertificateRequest {
  proxyId: string;
  service: string;
  namespace?: string;
  /** PEM PKCS#10, signed by the key the sidecar generated (it never leaves the sidecar). */
  csr: string;
  /** Instead of a join token: the current certificate and a base64 ECDSA-SHA256 signature of `csr` by its key. */
  renewal?: { certificate: string; signature: string };
}

export interface IssuedRecord { proxyId: string; spiffeId: string; serial: string; tokenId: string | null; issuedAt: string; notAfter: string }

export type PossessionCheck =
  | { ok: true; spiffeId: string; service: string; namespace: string; tokenId: string | null }
  | { ok: false; status: 401 | 403; error: string };

export type IssueOutcome = { status: 200; body: IssuedCertificate & { ttlMs: number } } | { status: 400 | 401 | 403; error: string };

export interface SerialRecord { tokenId: string | null; notAfter: string }

/** Issued-certificate bookkeeping kept in etcd, so that every replica sees every certificate. */
export interface SharedIssued {
  /** proxy id → its latest certificate */
  issued: EtcdRecords<IssuedRecord>;
  /** serial (lowercase hex) → the join token that first admitted the workload */
  serials: EtcdRecords<SerialRecord>;
}

export interface WorkloadIssuerOptions {
  ca: CertificateAuthority;
  tokens: JoinTokenStore;
  dataDir: string;
  trustDomain: () => string;
  ttlMs?: number;
  logger: Logger;
  now?: () => number;
  /** With an etcd store: the bookkeeping shared by every replica instead of <data-dir>/ca/issued.json. */
  shared?: SharedIssued;
}

const FORMAT = 'trellis-issued/1';
const safeName = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export class WorkloadIssuer {
  readonly ttlMs: number;
  private readonly byProxy = new Map<string, IssuedRecord>();
  /** Called after each certificate is issued (the control plane recompiles peers' endpoints). */
  onIssued: ((proxyId: string) => void) | null = null;
  /** Every certificate not yet expired → the join token that first admitted its workload. */
  private readonly bySerial = new Map<string, SerialRecord>();
  private readonly file: string;
  private readonly now: () => number;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly opts: WorkloadIssuerOptions) {
    this.ttlMs = opts.ttlMs ?? defaultCertTtlMs;
    if (this.ttlMs < minCertTtlMs) throw new Error(`the certificate lifetime must be at least ${minCertTtlMs / 1000}s`);
    this.file = path.join(opts.dataDir, 'ca', 'issued.json');
    this.now = opts.now ?? Date.now;
  }

  async load(): Promise<void> {
    const shared = this.opts.shared;
    if (shared) {
      // a certificate issued by another replica makes its sidecar reachable over mTLS here too
      shared.issued.onChange((proxyId) => this.onIssued?.(proxyId));
      return;
    }
    const text = await readOptionalFile(this.file);
    if (text === undefined) return;
    try {
      const parsed = JSON.parse(text) as { format?: string; issued?: IssuedRecord[]; serials?: Record<string, { tokenId: string | null; notAfter: string }> };
      if (parsed.format === FORMAT && Array.isArray(parsed.issued)) for (const r of parsed.issued) this.byProxy.set(r.proxyId, r);
      for (const [serial, v] of Object.entries(parsed.serials ?? {})) this.bySerial.set(serial, v);
    } catch (err) {
      // only bookkeeping for `get proxies`: start empty rather than refuse to start
      this.opts.logger.warn({ file: this.file, err: (err as Error).message }, 'ignoring a corrupt record of issued certificates');
    }
  }

  /** When the latest certificate issued to this proxy expires (ISO), or null. */
  certExpiry(proxyId: string): string | null {
    return this.record(proxyId)?.notAfter ?? null;
  }

  private record(proxyId: string): IssuedRecord | undefined {
    return this.opts.shared ? this.opts.shared.issued.get(proxyId) : this.byProxy.get(proxyId);
  }

  /** The `get proxies` columns: certExpiry (null without a certificate) and when it was issued. */
  certificateColumns(proxyId: string): { certExpiry: string | null; certIssuedAt: string | null; spiffeId: string | null } {
    const r = this.record(proxyId);
    return { certExpiry: r?.notAfter ?? null, certIssuedAt: r?.issuedAt ?? null, spiffeId: r?.spiffeId ?? null };
  }

  issued(): IssuedRecord[] {
    return this.opts.shared ? this.opts.shared.issued.values() : [...this.byProxy.values()];
  }

  async request(raw: unknown, bearer: string | null): Promise<IssueOutcome> {
    const req = validate(raw);
    if (typeof req === 'string') return { status: 400, error: req };
    const namespace = req.namespace ?? 'default';
    let tokenId: string | null;
    if (req.renewal) {
      const renewed = await this.checkRenewal(req, namespace);
      if ('error' in renewed) return this.refuse(req, renewed.status, renewed.error);
      tokenId = renewed.tokenId;
    } else {
      if (!bearer) return this.refuse(req, 401, 'a certificate needs a join token (trellis proxy --token, from `trellis token create --service NAME`) or, to renew, the current certificate');
      const check = await this.opts.tokens.check(bearer);
      if (!check.ok) return this.refuse(req, 401, check.message);
      if (check.token.service !== req.service || check.token.namespace !== namespace) {
        return this.refuse(req, 403, `join token ${check.token.id} is for service "${check.token.service}" in namespace "${check.token.namespace}", not "${req.service}" in "${namespace}"`);
      }
      tokenId = check.token.id;
    }
    const id = spiffeId(this.opts.trustDomain(), namespace, req.service);
    const result = await this.opts.ca.issue({ csrPem: req.csr, spiffeId: id, ttlMs: this.ttlMs, commonName: `${req.service}.${namespace}` });
    if (!result.ok) return this.refuse(req, 400, result.error);
    const cert = result.value;
    const record: IssuedRecord = {
      proxyId: req.proxyId, spiffeId: id, serial: cert.serial, tokenId,
      issuedAt: new Date(this.now()).toISOString(), notAfter: cert.notAfter.toISOString(),
    };
    const serial: SerialRecord = { tokenId, notAfter: cert.notAfter.toISOString() };
    if (this.opts.shared) {
      // the serial first: a renewal on another replica must find the token that admitted it
      await this.opts.shared.serials.put(cert.serial.toLowerCase(), serial);
      await this.opts.shared.issued.put(req.proxyId, record);
      await this.pruneShared();
    } else {
      this.byProxy.set(req.proxyId, record);
      this.bySerial.set(cert.serial.toLowerCase(), serial);
      await this.save();
    }
    this.onIssued?.(req.proxyId);
    this.opts.logger.info({ proxyId: req.proxyId, spiffeId: id, serial: cert.serial, notAfter: cert.notAfter.toISOString(), via: req.renewal ? 'renewal' : `join token ${tokenId}` }, 'certificate issued');
    return { status: 200, body: { ...cert, ttlMs: this.ttlMs } };
  }

  private async checkRenewal(req: CertificateRequest, namespace: string): Promise<{ tokenId: string | null } | { status: 401 | 403; error: string }> {
    const renewal = req.renewal!;
    const held = await this.verifyPossession(renewal.certificate, Buffer.from(req.csr, 'utf8'), renewal.signature);
    if (!held.ok) return { status: held.status, error: `cannot renew: ${held.error}` };
    if (held.service !== req.service || held.namespace !== namespace) {
      return { status: 403, error: `cannot renew: the certificate is ${held.spiffeId}, not service "${req.service}" in "${namespace}"` };
    }
    return { tokenId: held.tokenId };
  }

  /**
   * Checks that `certificatePem` is a certificate this CA issued and still valid, that `signature`
   * (base64 ECDSA-SHA256 of `data`) was made with its key, and that the join token which first
   * admitted the workload is not revoked. Used for renewals and for the xDS port.
   */
  async verifyPossession(certificatePem: string, data: Buffer, signature: string): Promise<PossessionCheck> {
    const verified = await this.opts.ca.verifyIssued(certificatePem);
    if (!verified.ok) return { ok: false, status: 401, error: verified.error };
    let proof = false;
    try {
      proof = verify('sha256', data, certificatePem, Buffer.from(signature, 'base64'));
    } catch {
      proof = false;
    }
    if (!proof) return { ok: false, status: 401, error: 'the signature does not prove possession of the certificate key' };
    const parts = parseSpiffeId(verified.value.spiffeId);
    if (!parts) return { ok: false, status: 403, error: `the certificate's identity ${verified.value.spiffeId} is not a workload SPIFFE id` };
    // the token that first admitted this workload: revoking it ends the chain of renewals
    const serial = verified.value.serial.toLowerCase();
    const tokenId = (this.opts.shared ? this.opts.shared.serials.get(serial) ?? await this.opts.shared.serials.fresh(serial) : this.bySerial.get(serial))?.tokenId ?? null;
    const token = tokenId ? await this.opts.tokens.lookup(tokenId) : undefined;
    if (token?.revokedAt) return { ok: false, status: 403, error: `join token ${token.id}, which admitted this workload, was revoked at ${token.revokedAt}` };
    return { ok: true, spiffeId: verified.value.spiffeId, service: parts.service, namespace: parts.namespace, tokenId };
  }

  private refuse(req: CertificateRequest, status: 400 | 401 | 403, error: string): IssueOutcome {
    this.opts.logger.warn({ proxyId: req.proxyId, service: req.service, namespace: req.namespace ?? 'default', status, error }, 'certificate refused');
    return { status, error };
  }

  /** Drops expired serials (and records a week past expiry) from etcd; a failure is only logged. */
  private async pruneShared(): Promise<void> {
    const shared = this.opts.shared!;
    const now = this.now();
    try {
      for (const [serial, r] of shared.serials.entries()) if (Date.parse(r.notAfter) < now) await shared.serials.delete(serial);
      for (const [id, r] of shared.issued.entries()) if (Date.parse(r.notAfter) < now - 7 * 24 * 3_600_000) await shared.issued.delete(id);
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'cannot prune expired certificate records in etcd');
    }
  }

  private save(): Promise<void> {
    const now = this.now();
    for (const [id, r] of this.byProxy) if (Date.parse(r.notAfter) < now - 7 * 24 * 3_600_000) this.byProxy.delete(id);
    for (const [serial, r] of this.bySerial) if (Date.parse(r.notAfter) < now) this.bySerial.delete(serial);
    const text = JSON.stringify({ format: FORMAT, issued: [...this.byProxy.values()], serials: Object.fromEntries(this.bySerial) }, null, 2) + '\n';
    // one write at a time, in order, so an older state never lands last; a failed write does not block the next
    this.saving = this.saving.catch(() => undefined).then(() => writeSecretFile(this.file, text));
    return this.saving;
  }
}

function validate(raw: unknown): CertificateRequest | string {
  if (!raw || typeof raw !== 'object') return 'the body must be a JSON object {proxyId, service, namespace?, csr, renewal?}';
  const r = raw as Record<string, unknown>;
  for (const field of ['proxyId', 'service', 'csr'] as const) if (typeof r[field] !== 'string' || !r[field]) return `"${field}" is required (a string)`;
  if (r.namespace !== undefined && typeof r.namespace !== 'string') return '"namespace" must be a string';
  if (!safeName.test(r.service as string)) return `"service" must be a DNS label, got "${r.service}"`;
  if (r.namespace !== undefined && !safeName.test(r.namespace as string)) return `"namespace" must be a DNS label, got "${r.namespace}"`;
  if (r.renewal !== undefined) {
    const rn = r.renewal as Record<string, unknown> | null;
    if (!rn || typeof rn.certificate !== 'string' || typeof rn.signature !== 'string') return '"renewal" must be {certificate, signature}';
  }
  return r as unknown as CertificateRequest;
}
