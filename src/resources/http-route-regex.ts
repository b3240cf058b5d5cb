// Route regexes are written in RE2 syntax (Gateway API and Envoy's safe_regex both mean RE2) but
// run on V8's backtracking engine. This accepts the part of RE2 that means the same in
// JavaScript and refuses, with a reason, what would differ or could backtrack for ever.
// A match is always a full match of the value, as Envoy's safe_regex is.

/** Longest pattern accepted: long patterns are where pathological backtracking hides. */
export const maxRegexLength = 1024;

export type RegexCheck = { ok: true; source: string; flags: string } | { ok: false; error: string };

const leadingFlags = /^\(\?([imsU]+)\)/;

/**
 * Checks an RE2 pattern and translates it to a JavaScript source and flags. Leading RE2 flags
 * `(?i)`, `(?s)`, `(?m)` become JS flags; anything JS would read differently is refused.
 */
export function checkRe2(pattern: string): RegexCheck {
  if (pattern.length === 0) return { ok: false, error: 'must not be empty' };
  if (pattern.length > maxRegexLength) return { ok: false, error: `is longer than ${maxRegexLength} characters` };
  let body = pattern;
  let flags = '';
  const lead = leadingFlags.exec(body);
  if (lead) {
    if (lead[1].includes('U')) return { ok: false, error: 'the RE2 flag U (ungreedy) has no JavaScript equivalent' };
    flags = [...new Set(lead[1])].join('');
    body = body.slice(lead[0].length);
  }
  const problem = unsupportedSyntax(body);
  // RE2's Python-style named group; JavaScript spells it without the P
  body = body.replace(/\(\?P</g, '(?<');
  if (problem) return { ok: false, error: problem };
  try {
    new RegExp(body, `${flags}u`);
  } catch (err) {
    return { ok: false, error: `is not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}` };
  }
  return { ok: true, source: `^(?:${body})$`, flags: `${flags}u` };
}

/** Compiles a checked pattern once; throws only for a pattern checkRe2 refuses. */
export function compileRe2(pattern: string): RegExp {
  const c = checkRe2(pattern);
  if (!c.ok) throw new Error(`regex ${JSON.stringify(pattern)} ${c.error}`);
  return new RegExp(c.source, c.flags);
}

function unsupportedSyntax(p: string): string | undefined {
  // group stack: whether each open group has a quantifier inside it
  const groups: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      const n = p[i + 1];
      if (n === undefined) return 'ends with a lone backslash';
      if (!inClass && /[1-9]/.test(n)) return 'backreferences (\\1) are not RE2 syntax';
      if (n === 'k' && p[i + 2] === '<') return 'named backreferences (\\k<name>) are not RE2 syntax';
      if (n === 'A' || n === 'z' || n === 'C' || n === 'Q' || n === 'E') return `\\${n} is RE2 syntax that JavaScript does not support`;
      i++;
      continue;
    }
    if (inClass) {
      if (c === '[' && p[i + 1] === ':') return 'POSIX classes ([[:alpha:]]) are not supported; use [a-zA-Z] and the like';
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      if (p[i + 1] === '^') i++;
      if (p[i + 1] === ']') i++;
      continue;
    }
    if (c === '(') {
      if (p[i + 1] === '?') {
        const n = p[i + 2];
        if (n === '=' || n === '!' || (n === '<' && (p[i + 3] === '=' || p[i + 3] === '!'))) return 'lookaround assertions are not RE2 syntax';
        if (n === 'P' && p[i + 3] === '=') return 'named backreferences are not RE2 syntax';
        if (n !== ':' && n !== '<' && n !== 'P') return 'inline flags are supported only at the start of the pattern';
      }
      groups.push(false);
      continue;
    }
    if (c === ')') {
      const hadQuantifier = groups.pop();
      if (hadQuantifier === undefined) return 'has an unmatched ")"';
      if (hadQuantifier && isQuantifier(p, i + 1)) {
        // (a+)+ and the like: harmless in RE2, exponential on a backtracking engine
        return 'nests a repeated group inside a repetition, which can take exponential time in JavaScript';
      }
      if (groups.length && (hadQuantifier || isQuantifier(p, i + 1))) groups[groups.length - 1] = true;
      continue;
    }
    if (isQuantifier(p, i) && groups.length) groups[groups.length - 1] = true;
  }
  return undefined;
}

function isQuantifier(p: string, i: number): boolean {
  const c = p[i];
  return c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d+(,\d*)?\}/.test(p.slice(i)));
}

/**
 * A checked pattern for search and replace (Envoy's regex_rewrite): unanchored, global, and
 * the RE2 substitution (\1 for group 1) turned into JavaScript's ($1).
 */
export function compileRe2Rewrite(pattern: string, substitution: string): { regex: RegExp; replacement: string } {
  const c = checkRe2(pattern);
  if (!c.ok) throw new Error(`regex ${JSON.stringify(pattern)} ${c.error}`);
  const body = c.source.slice(4, -2); // "^(?:" ... ")$"
  const replacement = substitution.replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1').replace(/\\\\/g, '\\');
  return { regex: new RegExp(body, `${c.flags}g`), replacement };
}
