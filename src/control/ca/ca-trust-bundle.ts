// The roots sidecars trust. It holds several so that a root can be rotated without an outage:
// add the new root, let every sidecar renew (it receives the bundle with each certificate),
// switch the CA to the new root, and remove the old root once nothing it signed is alive.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { readOptionalFile } from '../auth/secret-file.js';
import type { EtcdRecords } from '../store/etcd-records.js';
import { certificateToPem, fingerprint, isSelfSigned, parseCertificates, type x509 } from './ca-crypto.js';

export interface TrustRoot { fingerprint: string; subject: string; notAfter: string; pem: string; addedAt?: string }

export class TrustBundle {
  private constructor(private readonly file: string, private entries: TrustRoot[], private readonly records?: EtcdRecords<TrustRoot>) {}

  /** The bundle every replica on one etcd serves: one key per root (by fingerprint), watched. */
  static shared(records: EtcdRecords<TrustRoot>): TrustBundle {
    return new TrustBundle('', [], records);
  }

  static async load(file: string): Promise<TrustBundle> {
    const text = await readOptionalFile(file);
    const bundle = new TrustBundle(file, []);
    if (text !== undefined) {
      let certs: x509.X509Certificate[];
      try {
        certs = parseCertificates(text);
      } catch (err) {
        throw new Error(`the trust bundle ${file} is corrupt (${(err as Error).message}); restore it or delete it to trust only the CA's root`);
      }
      for (const cert of certs) bundle.entries.push(await describe(cert));
    }
    return bundle;
  }

  roots(): readonly TrustRoot[] {
    // shared: in the order they were added, the same on every replica
    return this.records ? this.records.values().sort((a, b) => (a.addedAt ?? '').localeCompare(b.addedAt ?? '') || a.fingerprint.localeCompare(b.fingerprint)) : this.entries;
  }

  pems(): string[] {
    return this.roots().map((e) => e.pem);
  }

  has(fp: string): boolean {
    return this.roots().some((e) => e.fingerprint === fp);
  }

  /** Adds self-signed CA certificates; returns those that were new. */
  async add(pemText: string): Promise<TrustRoot[]> {
    const certs = parseCertificates(pemText);
    if (!certs.length) throw new Error('no PEM certificate found');
    const added: TrustRoot[] = [];
    for (const cert of certs) {
      if (!(await isSelfSigned(cert))) throw new Error(`"${cert.subject}" is not a self-signed root certificate`);
      const root = await describe(cert);
      if (!this.has(root.fingerprint) && !added.some((a) => a.fingerprint === root.fingerprint)) added.push(root);
    }
    if (this.records) {
      const created: TrustRoot[] = [];
      // checked-and-set per root: a root two replicas add at once is added once
      for (const root of added) if (await this.records.create(root.fingerprint, { ...root, addedAt: new Date().toISOString() })) created.push(root);
      return created;
    }
    if (added.length) {
      this.entries = [...this.entries, ...added];
      await this.save();
    }
    return added;
  }

  async remove(fp: string): Promise<boolean> {
    if (this.records) return this.records.delete(fp);
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.fingerprint !== fp);
    if (this.entries.length === before) return false;
    await this.save();
    return true;
  }

  private async save(): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, this.entries.map((e) => e.pem).join(''));
  }
}

async function describe(cert: x509.X509Certificate): Promise<TrustRoot> {
  return { fingerprint: await fingerprint(cert), subject: cert.subject, notAfter: cert.notAfter.toISOString(), pem: certificateToPem(cert) };
}
