// What a parse error of Node's HTTP/1 parser (llhttp, strict: insecureHTTPParser stays off) was
// about, as the `reason` label of trellis_refused_total. The same words serve requests and
// responses (responses add the `response-` prefix). Branching is on llhttp's error code; llhttp's
// reason text only refines the label where one code covers several violations.

export type ParseErrorReason =
  | 'conflicting-length'
  | 'duplicate-content-length'
  | 'invalid-content-length'
  | 'invalid-transfer-encoding'
  | 'invalid-chunk'
  | 'chunk-extensions-too-large'
  | 'obs-fold'
  | 'invalid-header'
  | 'bare-lf'
  | 'bare-cr'
  | 'invalid-start-line'
  | 'header-too-large'
  | 'data-after-close'
  | 'malformed';

export function parseErrorReason(err: { code?: string; reason?: string }): ParseErrorReason {
  const reason = err.reason ?? '';
  switch (err.code) {
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      // llhttp names the pair whichever of the two headers came second
      if (reason.includes('Content-Length') && reason.includes('Transfer-Encoding')) return 'conflicting-length';
      return err.code === 'HPE_UNEXPECTED_CONTENT_LENGTH' ? 'duplicate-content-length' : 'invalid-transfer-encoding';
    case 'HPE_INVALID_CONTENT_LENGTH':
      return reason.includes('Transfer-Encoding') ? 'conflicting-length' : 'invalid-content-length';
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_STRICT':
      return 'invalid-chunk';
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 'chunk-extensions-too-large';
    case 'HPE_INVALID_HEADER_TOKEN':
      // a line that starts with whitespace continues the previous one: obsolete line folding
      return reason.includes('whitespace') ? 'obs-fold' : 'invalid-header';
    case 'HPE_CR_EXPECTED':
      return 'bare-lf';
    case 'HPE_LF_EXPECTED':
      return 'bare-cr';
    case 'HPE_UNEXPECTED_SPACE':
      // whitespace opening the first header line folds it onto the start line
      return reason.includes('after start line') ? 'obs-fold' : 'invalid-start-line';
    case 'HPE_INVALID_METHOD':
    case 'HPE_INVALID_URL':
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_VERSION':
    case 'HPE_INVALID_STATUS':
      return 'invalid-start-line';
    case 'HPE_HEADER_OVERFLOW':
      return 'header-too-large';
    case 'HPE_CLOSED_CONNECTION':
      return 'data-after-close';
    default:
      return 'malformed';
  }
}
