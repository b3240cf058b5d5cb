// Malformed and smuggling requests, as raw bytes, to a real sidecar in front of a real app that
// records every request it gets: each is answered as specified with the connection closed, none
// reaches the app as two requests (the smuggled `/smuggled` never arrives), and each refusal is
// counted by reason. Both listeners: outbound (the app's side) and inbound (peers' side).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hardeningHost, refusedCount, sendRaw, startSidecar, type Sidecar } from './hardening-support.js';

let sc: Sidecar;
before(async () => {
  sc = await startSidecar(hardeningHost(1));
});
after(async () => {
  await sc?.close();
});

const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n';
const head = (lines: string[], version = 'HTTP/1.1', target = '/x'): string => `POST ${target} ${version}\r\nHost: app\r\n${lines.map((l) => l + '\r\n').join('')}\r\n`;

interface Case {
  name: string;
  bytes: string | string[];
  status: number;
  reason: string;
  /** The head was valid and forwarded before the body broke framing: the app may see that one head, cut. */
  headForwarded?: boolean;
}

const many = Array.from({ length: 101 }, (_, i) => `x-h${i}: v`);
const cases: Case[] = [
  { name: 'CL.TE', bytes: head(['Content-Length: 6', 'Transfer-Encoding: chunked']) + '0\r\n\r\n' + smuggled, status: 400, reason: 'conflicting-length' },
  { name: 'TE.CL', bytes: head(['Transfer-Encoding: chunked', 'Content-Length: 40']) + '0\r\n\r\n' + smuggled, status: 400, reason: 'conflicting-length' },
  { name: 'TE.TE xchunked', bytes: head(['Transfer-Encoding: xchunked']) + '0\r\n\r\n' + smuggled, status: 400, reason: 'invalid-transfer-encoding' },
  { name: 'TE.TE space-indented value with CL', bytes: head(['Content-Length: 5', 'Transfer-Encoding:  chunked']) + '0\r\n\r\n' + smuggled, status: 400, reason: 'conflicting-length' },
  { name: 'TE.TE tab before value with CL', bytes: head(['Content-Length: 5', 'Transfer-Encoding:\tchunked']) + '0\r\n\r\n' + smuggled, status: 400, reason: 'conflicting-length' },
  { name: 'TE.TE space before colon', bytes: head(['Transfer-Encoding : chunked', 'Content-Length: 5']) + '0\r\n\r\n' + smuggled, status: 400, reason: 'invalid-header' },
  { name: 'TE.TE two headers, unknown first', bytes: head(['Transfer-Encoding: x', 'Transfer-Encoding: chunked']) + '0\r\n\r\n' + smuggled, status: 400, reason: 'invalid-transfer-encoding' },
  { name: 'TE.TE two headers, unknown last', bytes: head(['Transfer-Encoding: chunked', 'Transfer-Encoding: x']) + '0\r\n\r\n' + smuggled, status: 400, reason: 'invalid-transfer-encoding' },
  { name: 'TE gzip, chunked (unknown coding)', bytes: head(['Transfer-Encoding: gzip, chunked']) + '0\r\n\r\n' + smuggled, status: 400, reason: 'invalid-transfer-encoding' },
  { name: 'TE on HTTP/1.0', bytes: head(['Transfer-Encoding: chunked'], 'HTTP/1.0') + '0\r\n\r\n' + smuggled, status: 400, reason: 'invalid-transfer-encoding' },
  { name: 'double Content-Length, differing', bytes: head(['Content-Length: 3', 'Content-Length: 40']) + 'abc' + smuggled, status: 400, reason: 'duplicate-content-length' },
  { name: 'Content-Length list', bytes: head(['Content-Length: 3, 40']) + 'abc' + smuggled, status: 400, reason: 'invalid-content-length' },
  { name: 'oversized headers', bytes: head([`x-big: ${'a'.repeat(70 * 1024)}`]) + smuggled, status: 431, reason: 'header-too-large' },
  { name: 'too many headers', bytes: head(many) + smuggled, status: 431, reason: 'too-many-headers' },
  { name: 'long request line', bytes: `GET /${'a'.repeat(17 * 1024)} HTTP/1.1\r\nHost: app\r\n\r\n` + smuggled, status: 414, reason: 'uri-too-long' },
  { name: 'request line over the whole head limit', bytes: [`GET /${'a'.repeat(40 * 1024)}`, `${'a'.repeat(40 * 1024)} HTTP/1.1\r\nHost: app\r\n\r\n` + smuggled], status: 414, reason: 'uri-too-long' },
  { name: 'NUL in a header value', bytes: head(['x-a: a\0b']) + smuggled, status: 400, reason: 'invalid-header' },
  { name: 'invalid header name', bytes: head(['x@y: z']) + smuggled, status: 400, reason: 'invalid-header' },
  { name: 'bare LF', bytes: 'POST /x HTTP/1.1\r\nHost: app\nContent-Length: 0\r\n\r\n' + smuggled, status: 400, reason: 'bare-lf' },
  { name: 'bare CR', bytes: 'POST /x HTTP/1.1\r\nHost: app\rContent-Length: 0\r\n\r\n' + smuggled, status: 400, reason: 'bare-cr' },
  { name: 'obs-fold', bytes: head(['x-a: b', ' Transfer-Encoding: chunked']) + '0\r\n\r\n' + smuggled, status: 400, reason: 'obs-fold' },
  { name: 'bad chunk size', bytes: head(['Transfer-Encoding: chunked']) + 'zz\r\nabc\r\n0\r\n\r\n' + smuggled, status: 400, reason: 'invalid-chunk', headForwarded: true },
  { name: 'chunk size overflow', bytes: head(['Transfer-Encoding: chunked']) + 'fffffffffffffffffff\r\nabc\r\n0\r\n\r\n' + smuggled, status: 400, reason: 'invalid-chunk', headForwarded: true },
  { name: 'chunk data longer than its size', bytes: head(['Transfer-Encoding: chunked']) + '3\r\nabcGET /smuggled HTTP/1.1\r\n\r\n', status: 400, reason: 'invalid-chunk', headForwarded: true },
  { name: 'chunk extension abuse', bytes: head(['Transfer-Encoding: chunked']) + `3;${'e'.repeat(20 * 1024)}\r\nabc\r\n0\r\n\r\n` + smuggled, status: 413, reason: 'chunk-extensions-too-large', headForwarded: true },
  { name: 'two Host headers', bytes: 'GET /x HTTP/1.1\r\nHost: app\r\nHost: evil\r\n\r\n' + smuggled, status: 400, reason: 'invalid-host' },
  { name: 'invalid Host', bytes: 'GET /x HTTP/1.1\r\nHost: app evil\r\n\r\n' + smuggled, status: 400, reason: 'invalid-host' },
  { name: 'HTTP/2.0 over HTTP/1 framing', bytes: 'GET /x HTTP/2.0\r\nHost: app\r\n\r\n' + smuggled, status: 505, reason: 'http-version' },
  { name: 'pipelined after a request refused by the sidecar', bytes: head(many) + smuggled + smuggled, status: 431, reason: 'too-many-headers' },
  { name: 'pipelined after a request refused by the parser', bytes: head(['x-a: a\0b']) + smuggled + smuggled, status: 400, reason: 'invalid-header' },
];

for (const direction of ['outbound', 'inbound'] as const) {
  test(`${direction}: malformed and smuggling requests are refused, closed and counted`, async () => {
    const port = direction === 'outbound' ? sc.outboundPort : sc.inboundPort;
    const failures: string[] = [];
    for (const c of cases) {
      const before = sc.app.requests.length;
      const counted = await refusedCount(sc.runtime, direction, c.reason);
      const r = await sendRaw(sc.address, port, c.bytes);
      const seen = sc.app.requests.slice(before);
      const problems: string[] = [];
      if (r.status !== c.status) problems.push(`status ${r.status} (want ${c.status}): ${JSON.stringify(r.text.slice(0, 120))}`);
      if (!r.closedBySidecar) problems.push('connection left open');
      if (r.status >= 400 && !/\r\nconnection: close\r\n/i.test(r.text)) problems.push('answer without connection: close');
      if (r.status >= 400 && !/\r\nx-trellis-error: bad-request\r\n/i.test(r.text)) problems.push('answer without x-trellis-error');
      if ((r.text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length > 1) problems.push('more than one response');
      if (seen.some((s) => s.url.includes('smuggled'))) problems.push('the smuggled request reached the app');
      if (seen.length > (c.headForwarded ? 1 : 0)) problems.push(`the app saw ${seen.length} request(s)`);
      if (seen.some((s) => s.complete)) problems.push('the app got a complete request');
      if ((await refusedCount(sc.runtime, direction, c.reason)) !== counted + 1) problems.push(`trellis_refused_total{reason="${c.reason}"} not counted once`);
      if (problems.length) failures.push(`${c.name}: ${problems.join('; ')}`);
    }
    assert.deepEqual(failures, []);
  });
}

test('the table can fail: a well-formed request and a pipelined pair pass through', async () => {
  const before = sc.app.requests.length;
  const ok = await sendRaw(sc.address, sc.outboundPort, 'GET /fine HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n');
  assert.equal(ok.status, 200);
  const pair = await sendRaw(sc.address, sc.outboundPort, 'GET /one HTTP/1.1\r\nHost: app\r\n\r\nPOST /two HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
  assert.equal((pair.text.match(/HTTP\/1\.1 200/g) ?? []).length, 2, pair.text);
  assert.deepEqual(sc.app.paths().slice(before), ['/fine', '/one', '/two']);
  assert.equal(sc.app.requests.at(-1)!.body, 'abc');
  // 100 header fields is the limit, not beyond it
  const hundred = Array.from({ length: 98 }, (_, i) => `x-h${i}: v`);
  const atLimit = await sendRaw(sc.address, sc.inboundPort, head([...hundred, 'Content-Length: 0', 'Connection: close']).replace('Host: app\r\n', ''));
  assert.equal(atLimit.status, 400, 'without Host an HTTP/1.1 request is refused');
  const withHost = await sendRaw(sc.address, sc.inboundPort, `GET /limit HTTP/1.1\r\nHost: app\r\n${hundred.map((h) => h + '\r\n').join('')}Connection: close\r\n\r\n`);
  assert.equal(withHost.status, 200, withHost.text.slice(0, 200));
});
