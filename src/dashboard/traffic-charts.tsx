// Requests/s, success rate and p50/p95/p99 over the last 15 minutes or hour, from the control
// plane's stats history: what a service served, or what a caller sent a callee (one edge of the
// topology). Fetched again as new scrape rounds arrive, at most every 3 s.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, apiGet } from './api-client.js';
import type { HistoryPoint } from './api-types.js';
import { fmtMs, fmtPct, fmtRps, none } from './format.js';
import { useTopic } from './live-store.js';
import { TimeSeriesChart } from './time-series-chart.js';

const windows = { '15m': '10s', '1h': '30s' } as const;
type HistoryWindow = keyof typeof windows;

/** Whose traffic: a service's, or one call's (caller → callee). */
export type TrafficQuery = { service: string } | { from: string; to: string };

function useHistory(query: TrafficQuery, window: HistoryWindow): { points: HistoryPoint[]; error?: string } {
  const [state, setState] = useState<{ points: HistoryPoint[]; error?: string }>({ points: [] });
  const [, statsVersion] = useTopic('stats');
  const last = useRef({ at: 0, key: '' });
  const params = new URLSearchParams({ ...query, window, step: windows[window] }).toString();
  useEffect(() => {
    // a new scrape moves the stats topic every couple of seconds; one history fetch per 3 s is plenty
    if (last.current.key === params && Date.now() - last.current.at < 3000) return;
    last.current = { at: Date.now(), key: params };
    const ctl = new AbortController();
    apiGet<{ points: HistoryPoint[] }>(`/api/v1/stats/history?${params}`, ctl.signal)
      .then((h) => setState({ points: h.points }))
      .catch((err: Error) => { if (!ctl.signal.aborted) setState((s) => ({ points: s.points, error: err instanceof ApiError ? err.message : String(err) })); });
    return () => ctl.abort();
  }, [params, statsVersion]);
  return state;
}

export function TrafficCharts({ query, title }: { query: TrafficQuery; title: string }) {
  const [window, setWindow] = useState<HistoryWindow>('15m');
  const { points, error } = useHistory(query, window);
  const data = useMemo(() => {
    const t = points.map((p) => Date.parse(p.at) / 1000);
    const served = (v: number | null, p: HistoryPoint) => (p.requests > 0 ? v : null);
    return {
      rps: [t, points.map((p) => p.rps)] as [number[], ...(number | null)[][]],
      success: [t, points.map((p) => served(p.successRate, p))] as [number[], ...(number | null)[][]],
      latency: [t, points.map((p) => served(p.p50Ms, p)), points.map((p) => served(p.p95Ms, p)), points.map((p) => served(p.p99Ms, p))] as [number[], ...(number | null)[][]],
    };
  }, [points]);
  return (
    <section aria-labelledby="charts-h">
      <div class="section-head">
        <h2 id="charts-h">{title}</h2>
        <div role="group" aria-label="Time window" class="seg">
          {(Object.keys(windows) as HistoryWindow[]).map((w) => (
            <button type="button" key={w} aria-pressed={window === w} onClick={() => setWindow(w)}>last {w}</button>
          ))}
        </div>
      </div>
      {error && <p class="error" role="alert">History unavailable: {error}</p>}
      <div class="charts">
        <TimeSeriesChart title="Requests per second" testId="chart-rps" series={[{ label: 'rps', color: '#1f5fbf' }]} data={data.rps} format={(v) => (v === null ? none : fmtRps(v))} />
        <TimeSeriesChart title="Success rate" testId="chart-success" series={[{ label: 'success', color: '#2e9e5b' }]} data={data.success}
          format={(v) => fmtPct(v)} yRange={[0, 1]} />
        <TimeSeriesChart title="Latency" testId="chart-latency" data={data.latency} format={(v) => fmtMs(v)}
          series={[{ label: 'p50', color: '#2e9e5b' }, { label: 'p95', color: '#d89614' }, { label: 'p99', color: '#d64545' }]} />
      </div>
    </section>
  );
}
