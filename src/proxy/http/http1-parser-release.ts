// Node's HTTP/1 parser (HTTPParser from _http_common, used directly by the upstream client and
// the upgrade path) is a native object that a strong handle keeps alive until close(): a parser
// that is only dropped keeps its callbacks, their connection and its socket for ever (one per
// upstream connection ever opened). Closed on the next turn, as Node's own freeParser does,
// because the drop often happens inside one of its callbacks while execute() is on the stack.
export function releaseParser(parser: { close(): void }): void {
  setImmediate(closeParser, parser);
}

function closeParser(parser: { close(): void }): void {
  parser.close();
}
