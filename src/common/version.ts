import { packageVersion } from './package-root.js';

/** The version in the project's package.json. */
export function trellisVersion(): string {
  return packageVersion();
}
