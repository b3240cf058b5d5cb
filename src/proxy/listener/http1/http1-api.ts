// The data path (exchange, router, limits, telemetry) is written against node:http's
// IncomingMessage and ServerResponse, which the HTTP/2 compat objects also resemble. The
// HTTP/1 server's own request and response enter it here; the compiler checks that they carry
// every member the data path reads, so the cast below only hides members nobody uses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http1Request } from './http1-request.js';
import type { Http1Response } from './http1-response.js';

type RequestMembers = 'method' | 'url' | 'headers' | 'rawHeaders' | 'rawTrailers' | 'httpVersion' | 'httpVersionMajor' | 'httpVersionMinor' | 'complete' | 'socket';
type ResponseMembers = 'statusCode' | 'statusMessage' | 'sendDate' | 'headersSent' | 'writableEnded' | 'getHeader';

export function asIncomingMessage(req: Http1Request): IncomingMessage {
  const members: Pick<IncomingMessage, RequestMembers> = req;
  return members as IncomingMessage;
}

export function asServerResponse(res: Http1Response): ServerResponse {
  const members: Pick<ServerResponse, ResponseMembers> = res;
  return members as ServerResponse;
}
