// A TCP listener whose connects hang: the portable "black hole" for connect timeouts. A child
// process listens with a backlog of 1 and then blocks its event loop for good, so it never
// accepts; once its accept queue is full (backlog + 1 connections), Linux drops new SYNs and a
// connect neither succeeds nor fails. Non-routable addresses are no substitute: on a machine
// whose gateway or sandbox answers them, they refuse or even accept.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { withTimeout } from './proxy-test-support.js';

const childSource = `
const net = require('node:net');
const fs = require('node:fs');
const server = net.createServer().listen({ host: process.argv[1], port: 0, backlog: 1 }, () => {
  fs.writeSync(1, server.address().port + '\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});`;

export interface UnacceptingListener {
  address: string;
  port: number;
  close(): Promise<void>;
}

export async function unacceptingListener(address: string): Promise<UnacceptingListener> {
  const child = spawn(process.execPath, ['-e', childSource, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const fillers: net.Socket[] = [];
  const close = async (): Promise<void> => {
    for (const s of fillers) s.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    const port = await withTimeout(new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
      child.once('exit', (code) => reject(new Error(`the unaccepting listener exited (${code})`)));
    }), 5000, 'the unaccepting listener to bind');
    // fill the accept queue: these complete in the kernel, every later connect hangs
    for (let i = 0; i < 2; i++) {
      const s = net.connect(port, address);
      fillers.push(s);
      await withTimeout(new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject)), 5000, 'a filler connection');
    }
    return { address, port, close };
  } catch (err) {
    await close();
    throw err;
  }
}
