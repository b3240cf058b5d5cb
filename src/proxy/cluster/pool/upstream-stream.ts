// What an exchange holds while one request is in flight upstream, whatever the protocol: an
// HTTP/1.1 keep-alive connection (upstream-client.ts) carries one request at a time; an HTTP/2
// stream (h2-upstream-stream.ts) is one of many multiplexed on a session. Both take the request
// as the HTTP/1.1 head the data path built, and report to the same ResponseSink.
import type { BodyFraming, ResponseSink } from './upstream-client.js';

export interface UpstreamStream {
  /** Starts the request; with framing 'none' it is complete after this call. */
  send(head: string, sink: ResponseSink, isHead: boolean, framing: BodyFraming): void;
  /** Returns false when the transport pushes back; the sink hears `onUpstreamDrain`. */
  writeBody(chunk: Buffer): boolean;
  /** Ends the request body; trailers travel when the framing allows them. */
  endBody(rawTrailers: string[] | null): void;
  pause(): void;
  resume(): void;
  /** The exchange gave up (downstream gone, timeout): the request is cancelled upstream. */
  abort(): void;
}
