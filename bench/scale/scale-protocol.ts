// Messages between the bench (parent) and its simulated-sidecar processes, over the IPC channel.
import type { NodeInfo } from '../../src/xds/node.js';

/** What a change must make every sidecar hold. */
export type Expectation =
  | { kind: 'route'; vhost: string; prefix: string }
  | { kind: 'endpoint'; cluster: string; address: string; port: number; healthy: boolean | null };

export type ParentMessage =
  | { type: 'start'; server: string; nodes: NodeInfo[] }
  | { type: 'expect'; id: number; expectation: Expectation }
  | { type: 'join'; node: NodeInfo }
  | { type: 'leave'; id: string }
  | { type: 'stop' };

export type ChildMessage =
  | { type: 'ready'; at: number; configs: number }
  | { type: 'expecting'; id: number }
  /** Every sidecar of the process holds what `expect` #id asked for. */
  | { type: 'seen'; id: number; firstAt: number; lastAt: number; configs: number[] }
  | { type: 'error'; message: string };
