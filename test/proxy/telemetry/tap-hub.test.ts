import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { TapHub, type TapEvent } from '../../../src/proxy/telemetry/tap-hub.js';

function event(path: string, status: number, extra: Partial<TapEvent> = {}): TapEvent {
  return {
    type: 'request', time: new Date(0).toISOString(), direction: 'outbound', proxy: 'p', method: 'GET', authority: 'api', path, route: 'r', status,
    latencyMs: 1, upstream: null, error: null, retries: 0, traceId: null,
    source: { service: 'web.default', identity: null, address: null }, destination: { service: 'api.default', identity: null, address: null }, ...extra,
  };
}

/** An output whose write reports backpressure while `full` is set. */
class SlowOutput extends EventEmitter {
  written: string[] = [];
  full = false;
  ended = false;
  write(line: string): boolean {
    this.written.push(line);
    return !this.full;
  }
  end(): void {
    this.ended = true;
  }
}

test('tap: inactive until subscribed; filters on path prefix, status class, service; stops at max', () => {
  const hub = new TapHub();
  assert.equal(hub.active, false);
  const out = new SlowOutput();
  hub.subscribe({ path: '/a', status: '5xx', service: 'api', max: 2 }, out);
  assert.equal(hub.active, true);
  hub.publish(event('/b', 500));
  hub.publish(event('/a/1', 200));
  hub.publish(event('/a/2', 503, { destination: { service: 'other.default', identity: null, address: null }, source: { service: 'web.default', identity: null, address: null } }));
  hub.publish(event('/a/3', 503));
  assert.equal(out.ended, false);
  hub.publish(event('/a/4', 500));
  assert.deepEqual(out.written.map((l) => JSON.parse(l).path), ['/a/3', '/a/4']);
  assert.equal(out.ended, true);
  assert.equal(hub.active, false);
  hub.publish(event('/a/5', 500));
  assert.equal(out.written.length, 2);
});

test('tap: a slow consumer gets a bounded buffer, then a count of what was dropped', () => {
  const hub = new TapHub(3);
  const out = new SlowOutput();
  const sub = hub.subscribe({}, out);
  out.full = true;
  hub.publish(event('/0', 200)); // written, reports backpressure
  for (let i = 1; i <= 10; i++) hub.publish(event(`/${i}`, 200));
  assert.equal(out.written.length, 1);
  out.full = false;
  out.emit('drain');
  const paths = out.written.map((l) => JSON.parse(l));
  assert.deepEqual(paths.slice(0, 4).map((e) => e.path), ['/0', '/1', '/2', '/3']);
  assert.deepEqual(paths[4], { type: 'dropped', count: 7 });
  sub.abandon();
  assert.equal(hub.active, false);
});

test('tap: a malformed status filter is refused', () => {
  assert.throws(() => new TapHub().subscribe({ status: 'bad' }, new SlowOutput()), /status must be/);
});
