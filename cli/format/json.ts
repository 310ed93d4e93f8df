// `--format json`: one JSON document on stdout, messages converted with their generated
// toJSON (64-bit numbers as strings, enums by name, bytes as base64).
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

/** Checks a --format value: only "table" (default) and "json" exist. */
export function formatOf(v: string | undefined): 'table' | 'json' {
  if (v === undefined || v === 'table') return 'table';
  if (v === 'json') return 'json';
  throw Object.assign(new Error(`unknown --format "${v}": use table or json`), { userError: true as const });
}
