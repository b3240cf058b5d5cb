// Path changes of URLRewrite and RequestRedirect. The query string is kept as it came.
import type { PathMatch, PathRewrite } from '../config/proxy-config.js';
import { compileRe2Rewrite } from '../../resources/http-route-regex.js';

/** A rewrite compiled once per config; `apply` takes and returns a request target (path and query). */
export class CompiledPathRewrite {
  private readonly regex: { regex: RegExp; replacement: string } | null;
  /** Gateway API's segment rule for prefixes (ReplacePrefixMatch); Envoy's literal rule for other prefixes. */
  private readonly segments: boolean;

  constructor(private readonly rewrite: PathRewrite, private readonly match: PathMatch) {
    this.regex = rewrite.kind === 'regex' ? compileRe2Rewrite(rewrite.pattern, rewrite.substitution) : null;
    this.segments = match.kind === 'segment-prefix' || (match.kind === 'prefix' && match.value === '/');
  }

  apply(url: string): string {
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q);
    return this.applyPath(path) + query;
  }

  private applyPath(path: string): string {
    const r = this.rewrite;
    if (r.kind === 'full') return r.value;
    if (r.kind === 'regex') return path.replace(this.regex!.regex, this.regex!.replacement);
    const prefix = this.match.value;
    if (!this.segments) return r.value + path.slice(prefix.length);
    return replacePrefixMatch(path, prefix, r.value);
  }
}

/**
 * Gateway API ReplacePrefixMatch: the matched path segments are replaced, and the two parts are
 * joined with exactly one "/" ("/foo" → "/" turns "/foo/bar" into "/bar", and "/foo" into "/").
 */
export function replacePrefixMatch(path: string, prefix: string, replacement: string): string {
  const p = prefix.length > 1 ? prefix.replace(/\/+$/, '') : prefix;
  const rest = p === '/' ? (path === '/' ? '' : path) : path.slice(p.length);
  const base = replacement.replace(/\/+$/, '');
  const out = base + rest;
  return out === '' ? '/' : out;
}
