// The latest rows of each topic, as pushed by the event stream, and who wants to hear of them.
// Components subscribe to the topics they show, so a change to the proxies does not re-render
// the service page's charts.
import { useEffect, useState } from 'preact/hooks';
import type { Topic, Topics } from './api-types.js';

export type ConnectionState = { state: 'connecting' } | { state: 'live'; since: number } | { state: 'error'; message: string; status?: number };

type Listener = () => void;

class LiveStore {
  private readonly values: Partial<Topics> = {};
  private readonly versions = new Map<Topic, number>();
  private readonly listeners = new Map<Topic | 'connection', Set<Listener>>();
  connection: ConnectionState = { state: 'connecting' };

  get<T extends Topic>(topic: T): Topics[T] | undefined {
    return this.values[topic];
  }

  version(topic: Topic): number {
    return this.versions.get(topic) ?? 0;
  }

  set<T extends Topic>(topic: T, value: Topics[T]): void {
    this.values[topic] = value;
    this.versions.set(topic, this.version(topic) + 1);
    this.emit(topic);
  }

  setConnection(c: ConnectionState): void {
    this.connection = c;
    this.emit('connection');
  }

  subscribe(key: Topic | 'connection', cb: Listener): () => void {
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(cb);
    return () => set.delete(cb);
  }

  private emit(key: Topic | 'connection'): void {
    for (const cb of this.listeners.get(key) ?? []) cb();
  }
}

export const liveStore = new LiveStore();

/** The topic's latest rows (undefined until the first event) and a counter that moves on each update. */
export function useTopic<T extends Topic>(topic: T): [Topics[T] | undefined, number] {
  const [, setTick] = useState(0);
  useEffect(() => liveStore.subscribe(topic, () => setTick((n) => n + 1)), [topic]);
  return [liveStore.get(topic), liveStore.version(topic)];
}

export function useConnection(): ConnectionState {
  const [, setTick] = useState(0);
  useEffect(() => liveStore.subscribe('connection', () => setTick((n) => n + 1)), []);
  return liveStore.connection;
}

/** Re-renders every `ms` (for ages and uptimes). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
