// The sidecar's workload identity: it generates its own key, obtains a certificate for it from
// the control plane (first with its join token, then by proving it holds the current
// certificate), keeps it in memory and in its state dir, and renews at two thirds of its life.
// `current()` is what TLS will use: a renewal swaps it at once; connections already open keep theirs.
import type { Logger } from '../../common/log.js';
import { certificateFacts, newKeyAndCsr, signWithKey } from './identity-crypto.js';
import { loadIdentity, saveIdentity, type SavedIdentity } from './identity-state.js';

export interface IdentityMaterial {
  spiffeId: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  certificatePem: string;
  /** Intermediates to send after the certificate; empty when the root signs directly. */
  chainPems: string[];
  trustBundlePems: string[];
  /** PKCS#8 PEM; generated here and never sent anywhere. */
  keyPem: string;
}

export interface IdentityClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: IdentityClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type CertificatePost = (url: string, body: string, headers: Record<string, string>) => Promise<{ status: number; body: unknown }>;

export interface WorkloadIdentityOptions {
  /** The HTTP API of each control-plane replica, e.g. http://127.0.0.1:15080; one that cannot be reached passes to the next. */
  apiUrls: readonly string[];
  token?: string;
  proxyId: string;
  service: string;
  namespace: string;
  stateDir?: string;
  logger: Logger;
  clock?: IdentityClock;
  post?: CertificatePost;
  /** Retry delays after a failed request, doubling from min to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** When a certificate valid from notBefore to notAfter should be replaced. */
export function renewalTime(notBefore: Date, notAfter: Date): number {
  const start = notBefore.getTime();
  return start + Math.floor((notAfter.getTime() - start) * 2 / 3);
}

export class WorkloadIdentity {
  private material: IdentityMaterial | null = null;
  private readonly listeners = new Set<(m: IdentityMaterial) => void>();
  private readonly clock: IdentityClock;
  private readonly post: CertificatePost;
  private timer: unknown = null;
  private retryMs: number;
  private closed = false;
  private inFlight: Promise<boolean> | null = null;
  private lastError: string | null = null;
  /** The replica (index in apiUrls) that answered last. */
  private apiIndex = 0;

  constructor(private readonly opts: WorkloadIdentityOptions) {
    this.clock = opts.clock ?? systemClock;
    this.post = opts.post ?? fetchPost;
    this.retryMs = opts.retryMinMs ?? 1000;
  }

  current(): IdentityMaterial | null {
    return this.material;
  }

  onChange(listener: (m: IdentityMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** For /config_dump: what we hold, never the key. */
  describe(): Record<string, unknown> {
    const m = this.material;
    return {
      spiffeId: m?.spiffeId ?? null,
      serial: m?.serial ?? null,
      notBefore: m?.notBefore.toISOString() ?? null,
      notAfter: m?.notAfter.toISOString() ?? null,
      renewAt: m ? new Date(renewalTime(m.notBefore, m.notAfter)).toISOString() : null,
      trustRoots: m?.trustBundlePems.length ?? 0,
      lastError: this.lastError,
    };
  }

  /** Restores a still-valid certificate from the state dir or obtains one; a failure is retried in the background. */
  async start(): Promise<void> {
    await this.restore();
    await this.begin();
  }

  /** Loads a still-valid certificate of this service from the state dir; true when one was found. */
  async restore(): Promise<boolean> {
    if (this.opts.stateDir) {
      const saved = await loadIdentity(this.opts.stateDir);
      const restored = saved ? toMaterial(saved) : null;
      if (restored && restored.notAfter.getTime() > this.clock.now() && restored.spiffeId.endsWith(`/ns/${this.opts.namespace}/svc/${this.opts.service}`)) {
        this.install(restored, 'restored');
      }
    }
    return this.material !== null;
  }

  /** Renews now when due (or when nothing is held), else at two thirds of the held certificate's life. */
  async begin(): Promise<void> {
    if (!this.material || this.clock.now() >= renewalTime(this.material.notBefore, this.material.notAfter)) await this.refresh();
    else this.schedule(renewalTime(this.material.notBefore, this.material.notAfter) - this.clock.now());
  }

  /** One attempt to obtain a new certificate; schedules the next renewal, or a retry. */
  refresh(): Promise<boolean> {
    this.inFlight ??= this.attempt().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** Resolves once no request for a certificate is in flight (tests on a manual clock wait on it). */
  async settled(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private async attempt(): Promise<boolean> {
    if (this.closed) return false;
    const { keyPem, csrPem } = await newKeyAndCsr(`${this.opts.service}.${this.opts.namespace}`);
    const body = { proxyId: this.opts.proxyId, service: this.opts.service, namespace: this.opts.namespace, csr: csrPem };
    const tries: { via: string; body: object; headers: Record<string, string> }[] = [];
    const held = this.material;
    if (held && held.notAfter.getTime() > this.clock.now()) {
      tries.push({ via: 'renewal', body: { ...body, renewal: { certificate: held.certificatePem, signature: signWithKey(held.keyPem, csrPem) } }, headers: {} });
    }
    if (this.opts.token) tries.push({ via: 'join token', body, headers: { authorization: `Bearer ${this.opts.token}` } });
    if (!tries.length) return this.failed('no join token, and no valid certificate to renew with');
    let error = '';
    for (const t of tries) {
      const res = await this.postToAnyReplica(JSON.stringify(t.body), { 'content-type': 'application/json', ...t.headers });
      if ('unreachable' in res) return this.failed(res.unreachable);
      if (res.status === 200) {
        const issued = res.body as Omit<SavedIdentity, 'keyPem'>;
        const material = toMaterial({ certificatePem: issued.certificatePem, chainPems: issued.chainPems ?? [], trustBundlePems: issued.trustBundlePems ?? [], keyPem });
        if (!material) return this.failed('the control plane answered with a certificate that has no SPIFFE id');
        this.install(material, t.via);
        if (this.opts.stateDir) {
          await saveIdentity(this.opts.stateDir, { certificatePem: material.certificatePem, chainPems: material.chainPems, trustBundlePems: material.trustBundlePems, keyPem })
            .catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'cannot save the certificate in the state dir'));
        }
        return true;
      }
      error = `${t.via}: ${res.status} ${(res.body as { error?: string } | null)?.error ?? ''}`.trim();
      if (res.status >= 500) break;
    }
    return this.failed(`certificate refused (${error})`);
  }

  /**
   * Posts to the replica that answered last, then to each other in turn while they cannot be
   * reached: every replica shares the CA and the join tokens (in etcd), so any may answer.
   */
  private async postToAnyReplica(body: string, headers: Record<string, string>): Promise<{ status: number; body: unknown } | { unreachable: string }> {
    const urls = this.opts.apiUrls;
    const errors: string[] = [];
    for (let i = 0; i < urls.length; i++) {
      const index = (this.apiIndex + i) % urls.length;
      try {
        const res = await this.post(new URL('/api/v1/certificates', urls[index]).toString(), body, headers);
        this.apiIndex = index;
        return res;
      } catch (err) {
        errors.push(`${urls[index]}: ${(err as Error).message}`);
      }
    }
    return { unreachable: `cannot reach the control plane (${errors.join('; ')})` };
  }

  private install(material: IdentityMaterial, via: string): void {
    this.material = material;
    this.lastError = null;
    this.retryMs = this.opts.retryMinMs ?? 1000;
    const renewAt = renewalTime(material.notBefore, material.notAfter);
    this.opts.logger.info({ spiffeId: material.spiffeId, serial: material.serial, notAfter: material.notAfter.toISOString(), renewAt: new Date(renewAt).toISOString(), via }, 'workload certificate installed');
    this.schedule(renewAt - this.clock.now());
    for (const l of this.listeners) l(material);
  }

  private failed(error: string): boolean {
    this.lastError = error;
    const m = this.material;
    // never wait past expiry, and keep retrying while the held certificate is still good
    let delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.opts.retryMaxMs ?? 30_000);
    if (m) delay = Math.max(1000, Math.min(delay, m.notAfter.getTime() - this.clock.now()));
    this.opts.logger.warn({ error, retryInMs: delay, holding: m?.serial ?? null }, 'cannot obtain a workload certificate');
    this.schedule(delay);
    return false;
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, Math.max(0, ms));
  }
}

function toMaterial(saved: SavedIdentity): IdentityMaterial | null {
  let facts;
  try {
    facts = certificateFacts(saved.certificatePem);
  } catch {
    return null;
  }
  if (!facts.spiffeId) return null;
  return { ...facts, spiffeId: facts.spiffeId, certificatePem: saved.certificatePem, chainPems: saved.chainPems, trustBundlePems: saved.trustBundlePems, keyPem: saved.keyPem };
}

const fetchPost: CertificatePost = async (url, body, headers) => {
  const res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text for the error message
  }
  return { status: res.status, body: parsed };
};
