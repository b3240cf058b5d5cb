// The sidecar's TLS material for mesh traffic, made from its workload identity: one secure
// context per certificate, built once at each rotation and shared by every new connection.
// Connections already open keep the context they started with, so a rotation drops nothing.
import tls from 'node:tls';
import type { IdentityMaterial } from '../identity/workload-identity.js';

/** What MeshTls needs of the workload identity (WorkloadIdentity implements it). */
export interface IdentitySource {
  current(): IdentityMaterial | null;
  onChange(listener: (m: IdentityMaterial) => void): () => void;
}

/** ALPN for sidecar-to-sidecar traffic: h2 (streams multiplexed on few connections), HTTP/1.1 for peers without it. */
export const meshAlpn = ['h2', 'http/1.1'];

export class MeshTls {
  private context: tls.SecureContext | null = null;
  private options: tls.SecureContextOptions | null = null;
  private id: string | null = null;
  /** Grows at each rotation; pools compare it to drop resumption tickets of the old identity. */
  generation = 0;
  /** Why the latest material could not be used (the previous context stays in use). */
  lastError: string | null = null;
  private readonly listeners = new Set<() => void>();
  private unsubscribe: () => void = () => undefined;

  /** Without a source it holds nothing (plaintext) until attach(). */
  constructor(source?: IdentitySource) {
    if (source) this.attach(source);
  }

  /** Follows an identity from now on: its current certificate, then every rotation. */
  attach(source: IdentitySource): void {
    this.unsubscribe();
    const m = source.current();
    if (m) this.install(m);
    this.unsubscribe = source.onChange((next) => this.install(next));
  }

  /** The context every new connection uses (client and server side); null without a certificate. */
  get secureContext(): tls.SecureContext | null {
    return this.context;
  }

  /** The same material as options, for tls.Server#setSecureContext. */
  get contextOptions(): tls.SecureContextOptions | null {
    return this.options;
  }

  get spiffeId(): string | null {
    return this.id;
  }

  /** Called after each rotation (servers swap their context). */
  onRotate(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  private install(m: IdentityMaterial): void {
    const options: tls.SecureContextOptions = {
      key: m.keyPem,
      cert: [m.certificatePem, ...m.chainPems].join('\n'),
      ca: m.trustBundlePems,
      minVersion: 'TLSv1.3',
    };
    // A bad PEM must not take the running context away: keep the old one and say why.
    let context: tls.SecureContext;
    try {
      context = tls.createSecureContext(options);
    } catch (err) {
      this.lastError = (err as Error).message;
      return;
    }
    this.lastError = null;
    this.options = options;
    this.context = context;
    this.id = m.spiffeId;
    this.generation++;
    for (const l of this.listeners) l();
  }
}

/** The URI SANs of a peer certificate (Node's `subjectaltname` string: "URI:spiffe://..., DNS:x"). */
export function uriSans(cert: { subjectaltname?: string } | null | undefined): string[] {
  const s = cert?.subjectaltname;
  if (!s) return [];
  const out: string[] = [];
  for (const part of s.split(', ')) if (part.startsWith('URI:')) out.push(part.slice(4));
  return out;
}

/** The SPIFFE id of a verified peer certificate, or null (none, or several). */
export function spiffeIdOf(cert: { subjectaltname?: string } | null | undefined): string | null {
  const ids = uriSans(cert).filter((u) => u.startsWith('spiffe://'));
  return ids.length === 1 ? ids[0] : null;
}
