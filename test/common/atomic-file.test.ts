import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { writeFileAtomic } from '../../src/common/atomic-file.js';
import { withTempDir } from '../control/helpers.js';

describe('writeFileAtomic', () => {
  it('never lets a reader see a partly written file', () => withTempDir(async (dir) => {
    const file = path.join(dir, 'state.json');
    // large enough that a plain write takes several chunks with reads interleaved between them
    const contents = ['a', 'b'].map((c) => c.repeat(4 * 1024 * 1024));
    await writeFileAtomic(file, contents[0]);
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 12; i++) await writeFileAtomic(file, contents[i % 2]);
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const text = await readFile(file, 'utf8');
      assert.ok(text === contents[0] || text === contents[1], `read ${text.length} bytes of a torn file`);
      reads++;
    }
    await writer;
    assert.ok(reads > 0);
    assert.deepEqual(await readdir(dir), ['state.json']);
  }));
});
