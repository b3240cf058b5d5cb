/**
 * The store cannot take writes (its backend is unreachable); reads are served from the last
 * state seen. The API answers 503 with this message.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(readonly reason: string) {
    super(`store unavailable: read-only (${reason})`);
  }
}

export function isStoreUnavailable(err: unknown): err is StoreUnavailableError {
  return err instanceof StoreUnavailableError;
}
