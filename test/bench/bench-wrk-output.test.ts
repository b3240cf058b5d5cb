import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrkOutput } from '../../bench/bench-wrk-output.js';

const withLatency = `Running 5s test @ http://127.0.40.11:8080/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   210.35us   95.12us   6.01ms   97.10%
    Req/Sec    36.61k     1.37k   38.28k    84.00%
  Latency Distribution
     50%  194.00us
     75%  215.00us
     90%  250.00us
     99%    1.07ms
  182214 requests in 5.00s, 43.27MB read
Requests/sec:  36440.43
Transfer/sec:      8.65MB
`;

test('reads requests, rate and the 50th/99th percentiles in ms', () => {
  const r = parseWrkOutput(withLatency);
  assert.ok(!(r instanceof Error));
  assert.equal(r.requests, 182214);
  assert.equal(r.seconds, 5);
  assert.equal(r.requestsPerSecond, 36440.43);
  assert.ok(Math.abs((r.p50Ms ?? 0) - 0.194) < 1e-9);
  assert.equal(r.p99Ms, 1.07);
  assert.equal(r.errors, 0);
  assert.equal(r.errorKinds, '');
});

test('counts non-2xx responses and socket errors; percentiles null without --latency', () => {
  const text = `Running 2s test @ http://127.0.40.22:15001/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  300.00us   2.00s    90.00%
    Req/Sec    40.00k     1.00k   42.00k    80.00%
  80000 requests in 2.00s, 10.00MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 17
Requests/sec:  40000.00
Transfer/sec:      5.00MB
`;
  const r = parseWrkOutput(text);
  assert.ok(!(r instanceof Error));
  assert.equal(r.errors, 27);
  assert.equal(r.errorKinds, 'non-2xx 17, connect 1, read 2, write 3, timeout 4');
  assert.equal(r.p50Ms, null);
  assert.equal(r.p99Ms, null);
});

test('converts second-scale percentiles', () => {
  const r = parseWrkOutput(withLatency.replace('1.07ms', '1.50s'));
  assert.ok(!(r instanceof Error));
  assert.equal(r.p99Ms, 1500);
});

test('an output without a summary is an error naming what wrk printed', () => {
  const r = parseWrkOutput('unable to connect to 127.0.40.11:8080 Connection refused\n');
  assert.ok(r instanceof Error);
  assert.match(r.message, /Connection refused/);
});
