// A server-sent-events client over fetch rather than EventSource: EventSource cannot send an
// Authorization header, and the API may require a token. Reconnects after a pause when the
// stream ends or fails.
import { authHeaders } from './api-client.js';
import type { Topic } from './api-types.js';
import { liveStore } from './live-store.js';

const topics = new Set<Topic>(['proxies', 'services', 'routes', 'grpcroutes', 'endpoints', 'policies', 'stats', 'rollouts']);

export interface EventStreamHandle {
  /** Drops the current stream and opens a new one (e.g. after the token changed). */
  restart(): void;
}

export function startEventStream(url = '/api/v1/events'): EventStreamHandle {
  let controller: AbortController | undefined;
  let retryMs = 2000;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  const connect = async (): Promise<void> => {
    controller?.abort();
    const ctl = (controller = new AbortController());
    liveStore.setConnection({ state: 'connecting' });
    try {
      const res = await fetch(url, { headers: { accept: 'text/event-stream', ...authHeaders() }, signal: ctl.signal, cache: 'no-store' });
      if (!res.ok || !res.body) {
        const message = res.status === 401 || res.status === 403 ? 'the API needs a token: enter it above' : `event stream: HTTP ${res.status}`;
        liveStore.setConnection({ state: 'error', message, status: res.status });
        return schedule();
      }
      liveStore.setConnection({ state: 'live', since: Date.now() });
      await read(res.body, ctl.signal);
      if (!ctl.signal.aborted) {
        liveStore.setConnection({ state: 'error', message: 'the event stream ended; reconnecting' });
        schedule();
      }
    } catch (err) {
      if (ctl.signal.aborted) return;
      liveStore.setConnection({ state: 'error', message: `lost the control plane (${(err as Error).message}); reconnecting` });
      schedule();
    }
  };

  const schedule = (): void => {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => void connect(), retryMs);
  };

  const read = async (body: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<void> => {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  };

  const dispatch = (block: string): void => {
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data += (data ? '\n' : '') + value;
      else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
    }
    if (!topics.has(event as Topic) || !data) return;
    liveStore.set(event as Topic, JSON.parse(data));
  };

  void connect();
  return { restart: () => void connect() };
}
