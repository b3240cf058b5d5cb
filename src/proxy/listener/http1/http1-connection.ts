// One downstream HTTP/1 connection: llhttp parses what the socket reads into requests (reading
// the socket itself in C++ where the socket allows it, as node:http's server does, so reads skip
// the stream machinery), each request gets its response, and responses leave in request order
// (pipelined requests are served at once, their responses held until the ones before them are
// out, and reading stops when too many wait). Timeouts are checked by the process's sweep against the times kept here.
// After a request that closes the connection (`Connection: close`, HTTP/1.0 without keep-alive)
// whatever else the client sends is dropped, as Envoy does.
import type { Socket } from 'node:net';
import { HTTPParser, methods, requestParser, type NativeParser, type ParseError } from './http1-parser.js';
import { Http1Request, type RequestSource } from './http1-request.js';
import { Http1Response, isContinueExpectation, type ResponseSink } from './http1-response.js';
import type { TimedConnection } from './http1-timeout-sweep.js';

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly maxHeaderSize: number;
  /** From a message's first byte (or the connection's start) to the end of its head; 0 = none. */
  readonly headerTimeoutMs: number;
  /** No byte either way between requests; 0 = none. */
  readonly idleTimeoutMs: number;
  /** No byte either way while a request is in flight; 0 = none. */
  readonly streamIdleTimeoutMs: number;
  /** Closing: a connection closes after its last response. */
  readonly closing: boolean;
  onRequest(req: Http1Request, res: Http1Response): void;
  /** An upgrade or CONNECT request; the socket and the bytes read after the head are the handler's now. */
  onUpgrade(req: Http1Request, socket: Socket, head: Buffer): void;
  /** Null: CONNECT is not served here (the connection is cut, as node:http does). */
  readonly onConnect: ((req: Http1Request, socket: Socket, head: Buffer) => void) | null;
  /** The parser refused the bytes, or the head took too long; `res` is the response being written, if any. */
  clientError(err: ParseError, socket: Socket, res: Http1Response | null): void;
  /** No byte moved for the idle timeout (nothing in flight) or the stream idle timeout (a request in flight). */
  timeout(socket: Socket, res: Http1Response | null, requestComplete: boolean): void;
  forget(conn: Http1Connection): void;
}

/** Responses waiting behind the one being written before the socket stops being read. */
const maxPipelined = 16;

const enum Paused {
  Body = 1,
  Pipeline = 2,
}

export class Http1Connection implements RequestSource, ResponseSink, TimedConnection {
  private parser: NativeParser | null;
  /** Headers and URL llhttp handed over before the head was complete (over 32 fields), or trailers. */
  private partialHeaders: string[] = [];
  private partialUrl = '';
  /** In request order; the first one writes to the socket. */
  private readonly responses: Http1Response[] = [];
  /** The request whose body is being read. */
  private reading: Http1Request | null = null;
  private upgrading: Http1Request | null = null;
  /** A message said the connection closes after it: later bytes are not requests. */
  private closingMessage = false;
  /** The parser failed; nothing more is parsed. */
  private broken = false;
  private paused = 0;
  /** Waiting for a head since `headStart` (the connection's start or a new message's first byte). */
  private awaitingHead = true;
  private headStart: number;
  /** The parser reads the socket's handle itself (kOnExecute reports each read). */
  private consumed = false;
  lastActive: number;
  /** A timeout was reported; the limits close the connection (at once or after a grace). */
  private timedOut = false;

  constructor(private readonly host: ConnectionHost, readonly socket: Socket) {
    const p = requestParser(host.maxHeaderSize);
    p[HTTPParser.kOnMessageBegin] = this.onMessageBegin;
    p[HTTPParser.kOnHeaders] = this.onHeaders;
    p[HTTPParser.kOnHeadersComplete] = this.onHeadersComplete;
    p[HTTPParser.kOnBody] = this.onBody;
    p[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
    this.parser = p;
    this.headStart = this.lastActive = Date.now();
    // bytes already read (put back by the protocol split) still come as 'data', and all of them
    // do for a socket whose handle cannot be consumed
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('error', this.onError);
    const handle = (socket as unknown as { _handle?: { isStreamBase?: boolean; _consumed?: boolean } | null })._handle;
    if (handle?.isStreamBase === true && handle._consumed !== true) {
      handle._consumed = true;
      p[HTTPParser.kOnExecute] = this.onExecute;
      p.consume(handle);
      this.consumed = true;
    }
  }

  /** Nothing in flight: no response owed, no request being read. */
  get idle(): boolean {
    return this.responses.length === 0 && this.reading === null;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.lastActive = Date.now();
    const parser = this.parser;
    if (parser === null || this.broken || (this.closingMessage && this.reading === null)) return;
    this.parsed(parser.execute(chunk), chunk);
  };

  /** A read the consuming parser has parsed. */
  private readonly onExecute = (ret: number | ParseError): void => {
    this.lastActive = Date.now();
    if (this.parser === null || this.broken) return;
    this.parsed(ret, null);
  };

  /** After a read is parsed: a refusal, or an upgrade that takes the socket with what followed its head. */
  private parsed(ret: number | ParseError, chunk: Buffer | null): void {
    if (typeof ret !== 'number') {
      // llhttp refuses anything after a closing message; that is dropped, not an error
      if (ret.code === 'HPE_CLOSED_CONNECTION') return;
      this.broken = true;
      ret.rawPacket = chunk ?? this.parser!.getCurrentBuffer();
      this.host.clientError(ret, this.socket, this.current());
      return;
    }
    if (this.upgrading !== null) this.handOver((chunk ?? this.parser!.getCurrentBuffer()).subarray(ret));
  }

  private readonly onMessageBegin = (): void => {
    this.awaitingHead = true;
    this.headStart = Date.now();
  };

  private readonly onHeaders = (headers: string[], url: string): void => {
    for (let i = 0; i < headers.length; i++) this.partialHeaders.push(headers[i]);
    this.partialUrl += url;
  };

  private readonly onHeadersComplete = (
    major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined,
    _status: unknown, _message: unknown, upgrade: boolean, keepAlive: boolean,
  ): number => {
    if (headers === undefined) {
      headers = this.partialHeaders;
      this.partialHeaders = [];
    }
    if (url === undefined) {
      url = this.partialUrl;
      this.partialUrl = '';
    }
    this.awaitingHead = false;
    // the connection is closing after a response: requests read with it in the same chunk go nowhere
    if (this.broken) return 2;
    const req = new Http1Request(this.socket, this, methods[method], url, headers, major, minor);
    if (upgrade) {
      if (req.method === 'CONNECT' && this.host.onConnect === null) {
        this.socket.destroy();
        this.broken = true;
        return 2;
      }
      req.upgrade = true;
      this.upgrading = req;
      // llhttp stops after the head; execute() returns where the tunnelled bytes begin
      return 2;
    }
    if (!keepAlive) this.closingMessage = true;
    const res = new Http1Response(this, req, keepAlive);
    const responses = this.responses;
    responses.push(res);
    if (responses.length === 1) res.active = true;
    else if (responses.length > maxPipelined) this.pause(Paused.Pipeline);
    this.reading = req;
    const expect = scanHead(req);
    if (expect !== null && major === 1 && minor === 1) {
      if (isContinueExpectation(expect)) {
        res.writeContinue();
      } else {
        // node:http's answer to an expectation it cannot meet
        res.writeHead(417, ['content-length', '0']);
        res.end();
        return 0;
      }
    }
    this.host.onRequest(req, res);
    return 0;
  };

  private readonly onBody = (chunk: Buffer): void => {
    const req = this.reading;
    if (req !== null) req.push(chunk);
  };

  private readonly onMessageComplete = (): void => {
    if (this.upgrading !== null) return;
    const req = this.reading;
    if (req === null) return;
    this.reading = null;
    if (this.partialHeaders.length > 0) {
      req.rawTrailers = this.partialHeaders;
      this.partialHeaders = [];
      this.partialUrl = '';
    }
    req.pushEnd();
  };

  /** The upgrade request and the socket leave for their handler with the bytes read after the head. */
  private handOver(early: Buffer): void {
    const req = this.upgrading!;
    this.upgrading = null;
    this.detach();
    req.complete = true;
    // flowing again only once the handler reads (node:http does the same)
    (this.socket as any).readableFlowing = null;
    if (req.method === 'CONNECT') this.host.onConnect!(req, this.socket, early);
    else this.host.onUpgrade(req, this.socket, early);
  }

  private detach(): void {
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('close', this.onClose);
    s.removeListener('drain', this.onDrain);
    s.removeListener('error', this.onError);
    this.freeParser();
    this.host.forget(this);
  }

  private freeParser(): void {
    const p = this.parser;
    this.parser = null;
    if (p === null) return;
    if (this.consumed) {
      this.consumed = false;
      p.unconsume();
    }
    // not from inside one of its own callbacks (a consumed read calls in from C++)
    setImmediate(closeParser, p);
  }

  /** The client finished sending: a cut message is a parse error; otherwise the connection ends (node:http's default). */
  private readonly onEnd = (): void => {
    const p = this.parser;
    if (p !== null && !this.broken) {
      const err = p.finish();
      if (err instanceof Error) {
        this.broken = true;
        this.host.clientError(err, this.socket, this.current());
        return;
      }
    }
    if (this.socket.writable) this.socket.end();
  };

  private readonly onClose = (): void => {
    this.freeParser();
    this.host.forget(this);
    const responses = this.responses.splice(0);
    for (const res of responses) if (!res.writableEnded) res.emit('close');
    this.reading = null;
  };

  private readonly onError = (): void => {
    // a reset or broken pipe: nothing to answer ('close' follows)
    this.socket.destroy();
  };

  private readonly onDrain = (): void => {
    const res = this.responses[0];
    if (res !== undefined && res.needDrain) {
      res.needDrain = false;
      res.emit('drain');
    }
  };

  /** The response being written, if any. */
  current(): Http1Response | null {
    return this.responses[0] ?? null;
  }

  // ResponseSink

  send(res: Http1Response, data: Buffer | string | Array<Buffer | string>): boolean {
    if (!res.active) {
      const q = (res.queued ??= []);
      if (Array.isArray(data)) for (const d of data) q.push(d);
      else q.push(data);
      return true;
    }
    const s = this.socket;
    if (s.destroyed) return true;
    this.lastActive = Date.now();
    if (!Array.isArray(data)) return typeof data === 'string' ? s.write(data, 'latin1') : s.write(data);
    s.cork();
    let ok = true;
    for (const d of data) ok = (typeof d === 'string' ? s.write(d, 'latin1') : s.write(d)) && ok;
    s.uncork();
    return ok;
  }

  ended(res: Http1Response): void {
    const responses = this.responses;
    if (responses[0] !== res) return; // a pipelined response done early: it leaves in its turn
    while (responses.length > 0 && responses[0].writableEnded) {
      const done = responses.shift()!;
      if (done.last) {
        this.closeAfterWrites();
        return;
      }
      const next = responses[0];
      if (next === undefined) break;
      next.active = true;
      const q = next.queued;
      if (q !== null) {
        next.queued = null;
        if (!this.send(next, q)) next.needDrain = true;
      }
    }
    if (this.paused & Paused.Pipeline && responses.length <= maxPipelined / 2) this.resume(Paused.Pipeline);
    if (responses.length === 0 && this.reading === null && this.host.closing) this.closeAfterWrites();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Sends what is written, then closes; later pipelined requests are dropped. */
  private closeAfterWrites(): void {
    this.closingMessage = true;
    this.broken = true;
    this.reading = null;
    for (const r of this.responses.splice(0)) if (!r.writableEnded) r.emit('close');
    this.socket.destroySoon();
  }

  // RequestSource

  pauseReading(_req: Http1Request): void {
    this.pause(Paused.Body);
  }

  resumeReading(_req: Http1Request): void {
    this.resume(Paused.Body);
  }

  private pause(reason: Paused): void {
    if (this.paused === 0) {
      this.socket.pause();
      // a consumed handle is read by the parser, which a paused stream does not stop
      const h = this.consumed ? handleOf(this.socket) : null;
      if (h !== null && h.reading) {
        h.reading = false;
        h.readStop();
      }
    }
    this.paused |= reason;
  }

  private resume(reason: Paused): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0 && this.parser !== null) {
      const h = this.consumed ? handleOf(this.socket) : null;
      if (h !== null && !h.reading) {
        h.reading = true;
        h.readStart();
      }
      this.socket.resume();
    }
  }

  /** Called by the timeout sweep with the current time. */
  checkTimeouts(now: number): void {
    const { headerTimeoutMs, idleTimeoutMs, streamIdleTimeoutMs } = this.host;
    if (this.timedOut || this.parser === null) return;
    if (this.awaitingHead && headerTimeoutMs > 0 && now - this.headStart >= headerTimeoutMs) {
      this.timedOut = true;
      this.broken = true;
      const err = Object.assign(new Error('the request head took longer than the header timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
      this.host.clientError(err, this.socket, this.current());
      return;
    }
    const quiet = now - this.lastActive;
    if (this.idle) {
      // a connection that has said nothing yet meets the header timeout, or this one without it
      if ((!this.awaitingHead || headerTimeoutMs === 0) && idleTimeoutMs > 0 && quiet >= idleTimeoutMs) {
        this.timedOut = true;
        this.host.timeout(this.socket, null, true);
      }
    } else if (streamIdleTimeoutMs > 0 && quiet >= streamIdleTimeoutMs) {
      this.timedOut = true;
      this.host.timeout(this.socket, this.current(), this.reading === null);
    }
  }
}

function closeParser(p: NativeParser): void {
  p.close();
}

/** The socket's native handle; `reading` is net.Socket's own bookkeeping of it, kept in step. */
interface StreamHandle {
  reading: boolean;
  readStart(): void;
  readStop(): void;
}

function handleOf(socket: Socket): StreamHandle | null {
  return (socket as unknown as { _handle?: StreamHandle | null })._handle ?? null;
}

/**
 * One pass over the raw head (no header object per request): marks a request that announces a
 * body, and returns its Expect value, if any.
 */
function scanHead(req: Http1Request): string | null {
  const raw = req.rawHeaders;
  let expect: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const len = raw[i].length;
    if (len === 6) {
      if (raw[i].toLowerCase() === 'expect') expect = raw[i + 1];
    } else if (len === 14) {
      if (raw[i + 1] !== '0' && raw[i].toLowerCase() === 'content-length') req.hasBody = true;
    } else if (len === 17 && raw[i].toLowerCase() === 'transfer-encoding') {
      req.hasBody = true;
    }
  }
  return expect;
}
