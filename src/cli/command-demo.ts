import { runDemo, type DemoOptions } from '../demo/run-demo.js';

export async function demoCommand(opts: DemoOptions): Promise<void> {
  await runDemo(opts);
}
