// Run inside a namespace host: GETs a URL N times, one after another, and prints one JSON line
// with the outcomes (statuses, bodies by who answered, errors). Each request is bounded.
const [url, countText, timeoutText] = process.argv.slice(2);
const count = Number(countText ?? 10);
const timeoutMs = Number(timeoutText ?? 5000);
const results: Array<{ status: number; body: string } | { error: string }> = [];
for (let i = 0; i < count; i++) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    results.push({ status: res.status, body: await res.text() });
  } catch (err) {
    results.push({ error: ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message });
  }
}
process.stdout.write(`${JSON.stringify(results)}\n`);
