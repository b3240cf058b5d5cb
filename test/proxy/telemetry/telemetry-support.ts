// Helpers for the telemetry tests: this suite's loopback range (127.0.34.0/24), an OTLP/HTTP
// receiver, and an NDJSON stream reader.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const thost = (n: number): string => `127.0.34.${n}`;

export interface OtlpReceiver {
  url: string;
  /** Every span received, flattened, with its resource's service.name. */
  spans: Array<Record<string, any>>;
  waitFor(pred: (spans: Array<Record<string, any>>) => boolean, ms: number): Promise<void>;
  close(): Promise<void>;
}

/** A minimal OTLP/HTTP JSON collector: accepts POST /v1/traces and keeps the spans. */
export async function otlpReceiver(address: string): Promise<OtlpReceiver> {
  const spans: Array<Record<string, any>> = [];
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: any[] };
      for (const rs of body.resourceSpans) {
        const service = rs.resource.attributes.find((a: any) => a.key === 'service.name')?.value.stringValue;
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      for (const w of waiters) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${address}:${port}`,
    spans,
    waitFor(pred, ms) {
      if (pred(spans)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pred(spans)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${ms} ms waiting for spans; have ${spans.length}`));
        }, ms);
        waiters.add(check);
      });
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

export interface LineStream {
  lines: string[];
  /** Resolves once `n` lines arrived; rejects after `ms`. */
  waitLines(n: number, ms: number): Promise<string[]>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

/** Opens a GET whose response is NDJSON; resolves once the response head arrived. */
export function openLines(url: string, headers: Record<string, string> = {}): Promise<LineStream & { status: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const lines: string[] = [];
      const waiters = new Set<() => void>();
      let buf = '';
      let endResolve!: () => void;
      const ended = new Promise<void>((r) => (endResolve = r));
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim() !== '') lines.push(line);
        }
        for (const w of waiters) w();
      });
      res.on('end', () => endResolve());
      res.on('close', () => endResolve());
      res.on('error', () => endResolve());
      resolve({
        status: res.statusCode ?? 0,
        lines,
        ended,
        waitLines(n, ms) {
          if (lines.length >= n) return Promise.resolve(lines);
          return new Promise((res2, rej) => {
            const check = () => {
              if (lines.length < n) return;
              waiters.delete(check);
              clearTimeout(timer);
              res2(lines);
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              rej(new Error(`timed out after ${ms} ms waiting for ${n} lines; have ${lines.length}: ${lines.join(' | ')}`));
            }, ms);
            waiters.add(check);
          });
        },
        close() {
          req.destroy();
        },
      });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('line stream timed out')));
  });
}
