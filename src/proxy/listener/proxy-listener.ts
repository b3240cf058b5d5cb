// What the runtime needs of any listener (HTTP, TCP): a socket to bind, a config that can change
// under it, and a drain.
import type { AddressInfo } from 'node:net';
import type { ListenerConfig, RouteTable } from '../config/proxy-config.js';

export interface ProxyListener {
  config: ListenerConfig;
  /** A new route table for the next request (a TCP listener has none and ignores it). */
  setRoutes(table: RouteTable | undefined): void;
  listen(): Promise<AddressInfo>;
  readonly address: AddressInfo | null;
  /** Requests (HTTP) or connections (TCP) in flight. */
  readonly activeRequests: number;
  drain(ms: number): Promise<void>;
  close(): Promise<void>;
}
