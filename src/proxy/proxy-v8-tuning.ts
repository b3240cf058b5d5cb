// V8 settings for a process that runs one sidecar and nothing else (the `trellis proxy` command;
// never a test runner or the demo, which host other work). Measured on Node 20 (bench/bench-sidecar-memory.ts):
// - new space capped at its initial 1 MB semi-space, as `--max-semi-space-size=1` would, but
//   settable at run time: the default lets start-up grow it to 8 MB, which then stays resident.
// - no TurboFan while starting: module loading and the first config make some functions hot, and
//   optimizing them touches ~4 MB of the node binary's compiler code (file-backed RSS) for code
//   that never runs again. TurboFan comes back once the first config is applied, before traffic.
import { setFlagsFromString } from 'node:v8';

let startupTiering = false;

/** Call before the sidecar loads its libraries. */
export function tuneV8ForSidecar(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--no-turbofan');
  startupTiering = true;
}

/** Re-enables optimization for the data path; a no-op unless tuneV8ForSidecar() ran. */
export function endStartupTiering(): void {
  if (!startupTiering) return;
  startupTiering = false;
  setFlagsFromString('--turbofan');
}
