import { readFileSync } from 'node:fs';

// The version in package.json is the one truth; dist/src/cli/ sits three levels below it.
export const trellisVersion: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();
