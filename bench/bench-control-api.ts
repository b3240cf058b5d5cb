// The control plane's HTTP API as the bench's mesh targets use it: apply resources, issue join tokens.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export class ControlApi {
  constructor(readonly url: string, private readonly adminToken: string) {}

  /** The API of a control plane started with `--data-dir dataDir` (its admin token is written there). */
  static ofDataDir(url: string, dataDir: string): ControlApi {
    return new ControlApi(url, readFileSync(join(dataDir, 'admin-token'), 'utf8').trim().split('\n')[0]);
  }

  async post(path: string, body: string, contentType: string, bearer = this.adminToken): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.url}${path}`, {
      method: 'POST', body, headers: { authorization: `Bearer ${bearer}`, 'content-type': contentType }, signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the message
    }
    return { status: res.status, body: parsed };
  }

  async joinToken(service: string): Promise<string | Error> {
    const r = await this.post('/api/v1/tokens', JSON.stringify({ service }), 'application/json');
    const token = (r.body as { token?: unknown }).token;
    return r.status === 201 && typeof token === 'string' ? token : new Error(`join token for ${service}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}
