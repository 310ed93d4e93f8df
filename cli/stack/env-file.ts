// env_file: KEY=VALUE lines, # comments, blank lines; a bare KEY takes the caller's value.
// Values are literal (no quotes processing, no interpolation), as `docker stack deploy` reads them.
import { readFileSync, statSync } from 'node:fs';
import type { Environment } from './interpolate.js';

export function readEnvFile(path: string, env: Environment): { vars: Map<string, string | null>; error?: string } {
  const vars = new Map<string, string | null>();
  let text: string;
  try {
    if (statSync(path).size > 1024 * 1024) return { vars, error: `env_file ${path} is larger than 1 MiB` };
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { vars, error: `cannot read env_file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}): check the path, relative paths start at the stack file's directory` };
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).replace(/^export\s+/, '').trim();
    if (!/^[^\s=]+$/.test(key)) return { vars, error: `env_file ${path} line ${i + 1}: "${line.slice(0, 40)}" is not KEY=VALUE` };
    vars.set(key, eq < 0 ? (env[key] ?? null) : line.slice(eq + 1));
  }
  return { vars };
}
