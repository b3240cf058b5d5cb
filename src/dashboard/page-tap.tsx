// Live tap: pick a service and filters, and the requests its sidecars (and its callers') see
// scroll in as they happen, newest first. Pause holds new rows aside (counted) without closing
// the stream; resume shows them. The stream is the API's NDJSON tap, read with fetch so the API
// token goes with it.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { authHeaders } from './api-client.js';
import { none } from './format.js';
import { useTopic } from './live-store.js';

interface TapEvent {
  type: 'request';
  time: string;
  direction: 'inbound' | 'outbound';
  proxy: string;
  source: { service: string | null; address: string | null };
  destination: { service: string | null; address: string | null };
  method: string;
  authority: string;
  path: string;
  status: number;
  latencyMs: number;
  upstream: string | null;
  error: string | null;
}

interface Row extends TapEvent {
  seq: number;
}

/** Rows kept on the page; older ones scroll away. */
const maxRows = 300;

type TapState = { kind: 'idle' } | { kind: 'open'; sidecars: number } | { kind: 'error'; message: string } | { kind: 'ended' };

const peer = (p: { service: string | null; address: string | null }) => p.service ?? p.address ?? none;

function statusClass(s: number): string {
  return s >= 500 ? 'bad' : s >= 400 ? 'warn' : 'good';
}

export function PageTap() {
  const [services] = useTopic('services');
  const [proxies] = useTopic('proxies');
  // Service resources, and the names sidecars registered under without one
  const names = useMemo(() => [...new Set([...(services ?? []).map((s) => s.metadata.name), ...(proxies ?? []).map((p) => p.service)])].sort(), [services, proxies]);
  const [service, setService] = useState('');
  const [path, setPath] = useState('');
  const [status, setStatus] = useState('');
  const [state, setState] = useState<TapState>({ kind: 'idle' });
  const [rows, setRows] = useState<Row[]>([]);
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState(0);
  const [dropped, setDropped] = useState(0);
  const controller = useRef<AbortController | null>(null);
  const pausedRef = useRef(false);
  const heldRows = useRef<Row[]>([]);
  const seq = useRef(0);

  useEffect(() => () => controller.current?.abort(), []);

  const stop = () => {
    controller.current?.abort();
    controller.current = null;
  };

  const start = async () => {
    stop();
    if (!service) return;
    const ctl = (controller.current = new AbortController());
    setRows([]);
    heldRows.current = [];
    setHeld(0);
    setDropped(0);
    const q = new URLSearchParams({ service });
    if (path) q.set('path', path);
    if (status) q.set('status', status);
    try {
      const res = await fetch(`/api/v1/tap?${q}`, { headers: { accept: 'application/x-ndjson', ...authHeaders() }, signal: ctl.signal, cache: 'no-store' });
      if (!res.ok || !res.body) {
        let message = `HTTP ${res.status}`;
        try {
          message = ((await res.json()) as { error?: string }).error ?? message;
        } catch { /* not JSON */ }
        // the tap needs a token in every auth mode: the admin token or a read token
        if (res.status === 401) message = 'tapping needs an API token with read access (the admin token or a read token from `trellis token create --read`): enter it above';
        else if (res.status === 403) message = `${message}: enter a valid token above`;
        setState({ kind: 'error', message });
        return;
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        const fresh: Row[] = [];
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (!line.trim()) continue;
          const e = JSON.parse(line) as { type: string; targets?: unknown[]; count?: number };
          if (e.type === 'open') setState({ kind: 'open', sidecars: e.targets?.length ?? 0 });
          else if (e.type === 'dropped') setDropped((d) => d + (e.count ?? 0));
          else if (e.type === 'request') fresh.push({ ...(e as TapEvent), seq: seq.current++ });
        }
        if (fresh.length === 0) continue;
        if (pausedRef.current) {
          heldRows.current = [...fresh.reverse(), ...heldRows.current].slice(0, maxRows);
          setHeld((h) => h + fresh.length);
        } else {
          setRows((r) => [...fresh.reverse(), ...r].slice(0, maxRows));
        }
      }
      if (!ctl.signal.aborted) setState({ kind: 'ended' });
    } catch (err) {
      if (!ctl.signal.aborted) setState({ kind: 'error', message: `the tap stream failed: ${(err as Error).message}` });
    }
  };

  const togglePause = () => {
    const next = !paused;
    pausedRef.current = next;
    setPaused(next);
    if (!next) {
      const h = heldRows.current;
      heldRows.current = [];
      setHeld(0);
      setRows((r) => [...h, ...r].slice(0, maxRows));
    }
  };

  const running = state.kind === 'open' && controller.current !== null;
  return (
    <section class="tap">
      <h1 tabIndex={-1}>Live tap</h1>
      <form class="tap-controls" onSubmit={(e) => {
        e.preventDefault();
        void start();
      }}>
        <label>Service{' '}
          <select value={service} onChange={(e) => setService((e.target as HTMLSelectElement).value)} data-testid="tap-service">
            <option value="">choose…</option>
            {names.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
        <label>Path prefix{' '}
          <input value={path} placeholder="/" onInput={(e) => setPath((e.target as HTMLInputElement).value)} data-testid="tap-path" />
        </label>
        <label>Status{' '}
          <input value={status} placeholder="5xx or 503" size={6} onInput={(e) => setStatus((e.target as HTMLInputElement).value)} data-testid="tap-status" />
        </label>
        <button type="submit" disabled={!service} data-testid="tap-start">{running ? 'Restart' : 'Start'}</button>
        <button type="button" disabled={!running} onClick={() => {
          stop();
          setState({ kind: 'ended' });
        }}>Stop</button>
        <button type="button" aria-pressed={paused} disabled={!running} onClick={togglePause} data-testid="tap-pause">
          {paused ? `Resume${held > 0 ? ` (${held} held)` : ''}` : 'Pause'}
        </button>
      </form>
      <p class="hint" role="status" data-testid="tap-state">
        {state.kind === 'idle' && 'Pick a service and start: requests appear as they happen. Bodies are never captured.'}
        {state.kind === 'open' && `Tapping ${service} on ${state.sidecars} sidecar(s)${paused ? ' · paused' : ''}.`}
        {state.kind === 'ended' && 'The tap ended.'}
        {state.kind === 'error' && <span class="bad-text">{state.message}</span>}
        {dropped > 0 && <strong class="bad-text"> · {dropped} events dropped by the sidecars (the tap could not keep up)</strong>}
      </p>
      <table data-testid="tap-table">
        <thead>
          <tr><th>Time</th><th>Direction</th><th>From</th><th>To</th><th>Method</th><th>Authority</th><th>Path</th><th>Status</th><th class="num">Latency</th><th>Upstream</th><th>Proxy</th></tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.seq}>
              <td>{r.time.slice(11, 23)}</td>
              <td>{r.direction}</td>
              <td>{peer(r.source)}</td>
              <td>{peer(r.destination)}</td>
              <td>{r.method}</td>
              <td>{r.authority}</td>
              <td class="path">{r.path}</td>
              <td><span class={`badge ${statusClass(r.status)}`}>{r.status}{r.error ? ` ${r.error}` : ''}</span></td>
              <td class="num">{r.latencyMs.toFixed(1)} ms</td>
              <td>{r.upstream ?? none}</td>
              <td>{r.proxy}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
