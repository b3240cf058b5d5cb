import { parseAllDocuments, LineCounter } from 'yaml';
import type { z } from 'zod';
import { kinds, type Kind, type Resource } from './kinds.js';

/** One problem in one document, precise enough to fix without guessing. */
export interface ResourceError {
  source: string;      // file name, or "<stdin>"
  document: number;    // 1-based index of the document in the source
  line?: number;       // 1-based line where the document (or the field) starts
  resource?: string;   // Kind/name when they could be read
  path: string;        // field path such as spec.rules[0].backendRefs[1].weight
  message: string;
}

export function formatResourceError(e: ResourceError): string {
  const where = `${e.source}: document ${e.document}${e.line ? ` (line ${e.line})` : ''}${e.resource ? ` ${e.resource}` : ''}`;
  return `${where}: ${e.path ? `${e.path}: ` : ''}${e.message}`;
}

export type ParseResult =
  | { ok: true; resources: Resource[] }
  | { ok: false; errors: ResourceError[] };

function pathString(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/** Validates one already-parsed document against the schema of its kind. */
export function validateDocument(doc: unknown, source: string, document: number, lineOf?: (path: (string | number)[]) => number | undefined): { resource?: Resource; errors: ResourceError[] } {
  const base = { source, document, line: lineOf?.([]) };
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { errors: [{ ...base, path: '', message: 'a resource must be an object with apiVersion, kind, metadata and spec' }] };
  }
  const obj = doc as Record<string, unknown>;
  const kind = obj.kind;
  const meta = obj.metadata as Record<string, unknown> | undefined;
  const label = typeof kind === 'string' ? `${kind}${typeof meta?.name === 'string' ? `/${meta.name}` : ''}` : undefined;
  if (typeof kind !== 'string' || !(kind in kinds)) {
    return { errors: [{ ...base, resource: label, path: 'kind', message: `unknown kind ${JSON.stringify(kind)}; expected one of ${Object.keys(kinds).join(', ')}` }] };
  }
  const info = kinds[kind as Kind];
  if (obj.apiVersion !== info.apiVersion) {
    return { errors: [{ ...base, resource: label, path: 'apiVersion', message: `${kind} lives under apiVersion ${info.apiVersion}, not ${JSON.stringify(obj.apiVersion)}` }] };
  }
  const result = (info.schema as z.ZodType<Resource>).safeParse(doc);
  if (result.success) return { resource: result.data, errors: [] };
  return {
    errors: result.error.issues.map((issue) => ({
      ...base,
      line: lineOf?.(issue.path.filter((p): p is string | number => typeof p !== 'symbol')) ?? base.line,
      resource: label,
      path: pathString(issue.path),
      message: issue.message,
    })),
  };
}

/**
 * Parses YAML (one or more documents separated by ---) or JSON (an object, or an array of
 * objects) and validates every document. All or nothing: any error rejects the whole source.
 */
export function parseResources(text: string, source: string): ParseResult {
  const errors: ResourceError[] = [];
  const resources: Resource[] = [];
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let docs: unknown;
    try {
      docs = JSON.parse(text);
    } catch (err) {
      return { ok: false, errors: [{ source, document: 1, path: '', message: `invalid JSON: ${(err as Error).message}` }] };
    }
    (docs as unknown[]).forEach((doc, i) => {
      const r = validateDocument(doc, source, i + 1);
      if (r.resource) resources.push(r.resource);
      errors.push(...r.errors);
    });
  } else {
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
    const list = Array.isArray(docs) ? docs : [docs];
    let index = 0;
    for (const doc of list) {
      if (doc.contents === null && doc.errors.length === 0) continue; // empty document between separators
      index++;
      if (doc.errors.length) {
        for (const e of doc.errors) {
          errors.push({ source, document: index, line: lineCounter.linePos(e.pos[0]).line, path: '', message: `invalid YAML: ${e.message.split('\n')[0]}` });
        }
        continue;
      }
      const lineOf = (path: (string | number)[]): number | undefined => {
        for (let n = path.length; n >= 0; n--) {
          const node = path.length === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
          const range = (node as { range?: [number, number, number] } | undefined)?.range;
          if (range) return lineCounter.linePos(range[0]).line;
        }
        return undefined;
      };
      const r = validateDocument(doc.toJS(), source, index, lineOf);
      if (r.resource) resources.push(r.resource);
      errors.push(...r.errors);
    }
    if (index === 0) errors.push({ source, document: 1, path: '', message: 'no resources found' });
  }
  const seen = new Map<string, number>();
  resources.forEach((r, i) => {
    const key = `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
    if (seen.has(key)) errors.push({ source, document: i + 1, resource: `${r.kind}/${r.metadata.name}`, path: 'metadata.name', message: `duplicate of document ${seen.get(key)! + 1}` });
    seen.set(key, i);
  });
  return errors.length ? { ok: false, errors } : { ok: true, resources };
}
