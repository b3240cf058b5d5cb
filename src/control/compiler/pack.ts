import { messageType } from '../../xds/descriptor.js';
import type { AnyMessage } from '../../xds/any.js';
import { messageNameOf } from '../../xds/type-urls.js';

/**
 * Packs a plain object into an Any. Unlike src/xds/any.ts's packAny it converts before it
 * verifies, so enums may be written by name ('EDS', 'OUTBOUND') as docs/xds.md spells them.
 */
export function packMessage(typeUrl: string, object: Record<string, unknown>): AnyMessage {
  const type = messageType(messageNameOf(typeUrl));
  const message = type.fromObject(object);
  const err = type.verify(message);
  if (err) throw new Error(`cannot pack ${typeUrl}: ${err}`);
  return { type_url: typeUrl, value: type.encode(message).finish() };
}
