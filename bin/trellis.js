#!/usr/bin/env node
// Entry point of the `trellis` executable: the compiled CLI lives in dist/ (npm run build).
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('trellis: not built yet; run `npm run build` first');
    process.exit(1);
  }
  throw err;
});
