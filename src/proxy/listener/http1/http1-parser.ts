// Node's own HTTP/1 parser (llhttp, the one node:http's server runs), used without node:http's
// server around it. `_http_common` is internal but has exported HTTPParser and the method table
// since Node 0.x, and node:http's client and server both build on it; shared/PERFORMANCE.md
// measured the server around it at 25–30 % of a sidecar's CPU per request.
import { createRequire } from 'node:module';

/** The callbacks llhttp makes into JavaScript, by the indexes HTTPParser exports. */
export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or an Error with code (HPE_*), reason and bytesParsed. */
  execute(data: Buffer): number | ParseError;
  /** The client's EOF: an Error when a message was cut. */
  finish(): ParseError | undefined;
  /** Reads the stream itself, in C++ (no 'data' events); kOnExecute reports each read. */
  consume(handle: object): void;
  unconsume(): void;
  /** The read being parsed (what a consumed read was). */
  getCurrentBuffer(): Buffer;
  close(): void;
  [key: number]: unknown;
}

export interface ParseError extends Error {
  code: string;
  reason?: string;
  bytesParsed?: number;
  rawPacket?: Buffer;
}

interface ParserModule {
  HTTPParser: {
    new (): NativeParser;
    REQUEST: number;
    kOnMessageBegin: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
    kLenientNone: number;
  };
  methods: string[];
}

const common = createRequire(import.meta.url)('_http_common') as ParserModule;

export const HTTPParser = common.HTTPParser;
/** Method names by the index llhttp reports. */
export const methods: readonly string[] = common.methods;

/** A strict request parser (no lenient flags: the smuggling defences of node:http's default). */
export function requestParser(maxHeaderSize: number): NativeParser {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, maxHeaderSize, HTTPParser.kLenientNone);
  return p;
}
