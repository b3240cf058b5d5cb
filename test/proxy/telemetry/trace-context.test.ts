import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseB3Single, parseTraceparent, readIncomingTrace, withTraceHeaders } from '../../../src/proxy/telemetry/trace-context.js';

const tid = '4bf92f3577b34da6a3ce929d0e0e4736';
const sid = '00f067aa0ba902b7';

test('traceparent: valid, sampled flag, malformed and all-zero ids refused', () => {
  assert.deepEqual(parseTraceparent(`00-${tid}-${sid}-01`), { traceId: tid, spanId: sid, sampled: true });
  assert.deepEqual(parseTraceparent(`00-${tid}-${sid}-00`), { traceId: tid, spanId: sid, sampled: false });
  assert.equal(parseTraceparent(`00-${'0'.repeat(32)}-${sid}-01`), null);
  assert.equal(parseTraceparent(`00-${tid}-${'0'.repeat(16)}-01`), null);
  assert.equal(parseTraceparent(`ff-${tid}-${sid}-01`), null);
  assert.equal(parseTraceparent(`00-${tid}-${sid}-01-extra`), null);
  assert.deepEqual(parseTraceparent(`01-${tid}-${sid}-01-extra`), { traceId: tid, spanId: sid, sampled: true });
});

test('b3: single header (64-bit ids widen) and multi headers; W3C wins when both came', () => {
  assert.deepEqual(parseB3Single(`a3ce929d0e0e4736-${sid}-1`), { traceId: '0000000000000000a3ce929d0e0e4736', spanId: sid, sampled: true });
  assert.deepEqual(parseB3Single(`${tid}-${sid}`), { traceId: tid, spanId: sid, sampled: null });
  assert.equal(parseB3Single('0'), null);
  const multi = readIncomingTrace(['X-B3-TraceId', tid, 'X-B3-SpanId', sid, 'X-B3-Sampled', '0']);
  assert.deepEqual(multi, { traceId: tid, spanId: sid, sampled: false, tracestate: null, b3Single: false });
  const both = readIncomingTrace(['b3', `${'1'.repeat(32)}-${'2'.repeat(16)}-1`, 'traceparent', `00-${tid}-${sid}-01`, 'tracestate', 'a=1']);
  assert.deepEqual(both, { traceId: tid, spanId: sid, sampled: true, tracestate: 'a=1', b3Single: false });
  assert.equal(readIncomingTrace(['host', 'x', 'traceparent', 'garbage']), null);
});

test('the next hop gets this hop as parent, in W3C and in the B3 form the caller used', () => {
  const head = `GET / HTTP/1.1\r\nhost: api\r\ntraceparent: 00-${tid}-${sid}-01\r\nX-B3-TraceId: ${tid}\r\nx-b3-spanid: ${sid}\r\nx-forwarded-for: 1.2.3.4\r\n\r\n`;
  const out = withTraceHeaders(head, true, tid, '1111111111111111', sid, true, 'k=v', false);
  assert.ok(out.endsWith('\r\n\r\n'));
  assert.ok(!out.includes(sid + '-01'), 'the caller\'s span is no longer the parent');
  assert.match(out, new RegExp(`\r\ntraceparent: 00-${tid}-1111111111111111-01\r\n`));
  assert.match(out, /\r\ntracestate: k=v\r\n/);
  assert.match(out, new RegExp(`\r\nx-b3-parentspanid: ${sid}\r\n`));
  assert.equal(out.match(/x-b3-traceid/gi)?.length, 1);
  assert.match(out, /\r\nhost: api\r\n/);
  const single = withTraceHeaders('GET / HTTP/1.1\r\nb3: x\r\n\r\n', true, tid, '1111111111111111', null, false, null, true);
  assert.equal(single, `GET / HTTP/1.1\r\ntraceparent: 00-${tid}-1111111111111111-00\r\nb3: ${tid}-1111111111111111-0\r\n\r\n`);
});
