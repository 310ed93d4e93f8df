// The benchmarks' output contract: the last non-empty stdout line is one JSON object whose
// `bench` names the benchmark.

export function checkLastLine(stdout: string, name: string): { json?: string; error?: string } {
  const last = stdout.trimEnd().split('\n').pop()?.trim() ?? '';
  if (last === '') return { error: 'printed nothing on stdout' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    return { error: `last line is not JSON: ${last.slice(0, 200)}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { error: `last line is JSON but not an object: ${last.slice(0, 200)}` };
  const bench = (parsed as { bench?: unknown }).bench;
  if (bench !== name) return { error: `last line names bench ${JSON.stringify(bench)}, not ${JSON.stringify(name)}` };
  return { json: last };
}
