import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseResources, formatResourceError, type ResourceError } from '../resources/validate.js';
import type { Resource } from '../resources/kinds.js';
import { apiRequest } from './api-client.js';
import { printJson, type OutputFormat } from './output.js';
import { waitForAcks } from './apply-wait.js';

interface Source { name: string; text: string }

function readSources(target: string): Source[] {
  if (target === '-') return [{ name: '<stdin>', text: readFileSync(0, 'utf8') }];
  let st;
  try {
    st = statSync(target);
  } catch {
    throw new Error(`${target}: no such file or directory`);
  }
  if (!st.isDirectory()) return [{ name: target, text: readFileSync(target, 'utf8') }];
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (/\.(ya?ml|json)$/i.test(entry.name)) files.push(p);
    }
  };
  walk(target);
  if (files.length === 0) throw new Error(`${target}: no .yaml, .yml or .json files in this directory`);
  return files.map((f) => ({ name: f, text: readFileSync(f, 'utf8') }));
}

interface ApplyResponse { applied: { kind: string; namespace: string; name: string; action: string }[]; revision?: number }

/**
 * Validates every document of every file here first, so errors name the file; then sends them
 * in one request, which the control plane applies all or nothing.
 */
export async function applyCommand(apiUrl: string, target: string, opts: { dryRun?: boolean; output: OutputFormat; wait?: boolean; timeoutMs?: number }): Promise<number> {
  const sources = readSources(target);
  const resources: Resource[] = [];
  const errors: ResourceError[] = [];
  for (const s of sources) {
    const r = parseResources(s.text, s.name);
    if (r.ok) resources.push(...r.resources);
    else errors.push(...r.errors);
  }
  if (errors.length) {
    for (const e of errors) process.stderr.write(`error: ${formatResourceError(e)}\n`);
    process.stderr.write(`nothing applied: ${errors.length} error${errors.length > 1 ? 's' : ''}\n`);
    return 1;
  }
  let res: ApplyResponse;
  const sentAt = Date.now();
  try {
    res = await apiRequest<ApplyResponse>(apiUrl, 'POST', `/api/v1/resources${opts.dryRun ? '?dryRun=true' : ''}`, JSON.stringify(resources), {
      'content-type': 'application/json',
      'x-trellis-source': sources.length === 1 ? sources[0].name : target,
    });
  } catch (err) {
    const body = (err as { body?: { errors?: ResourceError[] } }).body;
    if (body?.errors) {
      for (const e of body.errors) process.stderr.write(`error: ${formatResourceError(e)}\n`);
      process.stderr.write('nothing applied\n');
      return 1;
    }
    throw err;
  }
  if (opts.output === 'json') printJson(res.applied);
  else for (const a of res.applied) process.stdout.write(`${a.kind.toLowerCase()}/${a.name} ${a.action}${opts.dryRun ? ' (dry run)' : ''}\n`);
  if (!opts.wait || opts.dryRun) return 0;
  if (res.revision === undefined) {
    process.stderr.write('error: this control plane does not report store revisions; cannot --wait\n');
    return 1;
  }
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const outcome = await waitForAcks(apiUrl, res.revision, timeoutMs);
  if (outcome.ok) {
    // stderr: -o json keeps stdout a JSON document
    process.stderr.write(`revision ${res.revision} ACKed by all ${outcome.proxies} connected prox${outcome.proxies === 1 ? 'y' : 'ies'} in ${Date.now() - sentAt} ms from the apply request\n`);
    return 0;
  }
  for (const p of outcome.pending) process.stderr.write(`error: proxy ${p.id} ${p.reason}\n`);
  process.stderr.write(`revision ${res.revision} not ACKed by ${outcome.pending.length} prox${outcome.pending.length === 1 ? 'y' : 'ies'} after ${outcome.elapsedMs} ms: ${outcome.pending.map((p) => p.id).join(', ')}\n`);
  return 1;
}
