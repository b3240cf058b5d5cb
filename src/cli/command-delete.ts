import { kindFromAlias, kinds } from '../resources/kinds.js';
import { apiRequest } from './api-client.js';

export async function deleteCommand(apiUrl: string, kindArg: string, name: string, namespace: string): Promise<number> {
  const kind = kindFromAlias(kindArg);
  if (!kind) throw new Error(`unknown kind "${kindArg}"; expected one of ${Object.keys(kinds).join(', ')}`);
  try {
    await apiRequest(apiUrl, 'DELETE', `/api/v1/resources/${kind}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  } catch (err) {
    if ((err as { status?: number }).status === 404) {
      process.stderr.write(`error: ${kind.toLowerCase()}/${name} not found in namespace ${namespace}\n`);
      return 1;
    }
    throw err;
  }
  process.stdout.write(`${kind.toLowerCase()}/${name} deleted\n`);
  return 0;
}
