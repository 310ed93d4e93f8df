// Variable substitution in scalar values, as `docker stack deploy` does it: ${V}, $V,
// ${V:-default}, ${V-default}, ${V:?error}, ${V?error}, ${V:+alt}, ${V+alt}, and $$ for a
// literal $. Go-template text such as {{.Node.ID}} has no $ and passes through untouched.

export type Environment = Readonly<Record<string, string | undefined>>;

export class InterpolationError extends Error {
  /** Every required variable missing from one value, so that one run names them all. */
  readonly messages: readonly string[];
  constructor(message: string | readonly string[]) {
    const all = typeof message === 'string' ? [message] : message;
    super(all.join('; '));
    this.name = 'InterpolationError';
    this.messages = all;
  }
}

export interface InterpolationResult {
  readonly value: string;
  /** Variables that were used without a default while unset (substituted with ""). */
  readonly unset: string[];
  /** Variables used without a default that gave "" (unset or set empty), in order: a value
   *  that is then refused (an empty bind source, an image "app:") can name them. */
  readonly blank: string[];
}

interface Scan { unset: string[]; blank: string[]; missing: string[] }

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function interpolate(text: string, env: Environment): InterpolationResult {
  const scan: Scan = { unset: [], blank: [], missing: [] };
  const value = substitute(text, env, scan, 0);
  if (scan.missing.length > 0) throw new InterpolationError(scan.missing);
  return { value, unset: scan.unset, blank: scan.blank };
}

function substitute(text: string, env: Environment, scan: Scan, depth: number): string {
  if (depth > 8) throw new InterpolationError('defaults nested more than 8 levels deep');
  if (!text.includes('$')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') { out += c; i++; continue; }
    const next = text[i + 1];
    if (next === '$') { out += '$'; i += 2; continue; }
    if (next === '{') {
      const end = findClose(text, i + 2);
      if (end < 0) throw new InterpolationError(`unterminated "\${" in "${clip(text)}": close it with "}" or write "$$" for a literal "$"`);
      out += expandBraced(text.slice(i + 2, end), env, scan, depth);
      i = end + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (!m) throw new InterpolationError(`invalid "$" in "${clip(text)}": write "$$" for a literal "$", or \${NAME} for a variable`);
    out += lookup(m[0], env, scan);
    i += 1 + m[0].length;
  }
  return out;
}

/** Index of the "}" closing a "${" whose body starts at `from`, counting nested "${". */
function findClose(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '$' && text[i + 1] === '$') { i++; continue; }
    if (c === '$' && text[i + 1] === '{') { depth++; i++; continue; }
    if (c === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

function expandBraced(body: string, env: Environment, scan: Scan, depth: number): string {
  const m = NAME.exec(body);
  if (!m) throw new InterpolationError(`invalid variable name in "\${${clip(body)}}": names are letters, digits and _`);
  const name = m[0];
  const rest = body.slice(name.length);
  if (rest === '') return lookup(name, env, scan);
  const op = /^(:?[-?+])/.exec(rest);
  if (!op) throw new InterpolationError(`invalid "\${${clip(body)}}": after the name use :-, -, :?, ?, :+ or +`);
  const arg = rest.slice(op[1]!.length);
  const v = env[name];
  const colon = op[1]!.startsWith(':');
  const missing = v === undefined || (colon && v === '');
  switch (op[1]!.slice(-1)) {
    case '-':
      return missing ? substitute(arg, env, scan, depth + 1) : v!;
    case '+':
      return missing ? '' : substitute(arg, env, scan, depth + 1);
    default: {
      if (!missing) return v!;
      // Keep going: the other required variables of this value are reported in the same run.
      const why = substitute(arg, env, scan, depth + 1);
      scan.missing.push(`required variable ${name} is ${v === undefined ? 'unset' : 'empty'}: ${why || 'set it in the environment'}`);
      return '';
    }
  }
}

function lookup(name: string, env: Environment, scan: Scan): string {
  const v = env[name];
  if (v === undefined) scan.unset.push(name);
  if (!v) scan.blank.push(name);
  return v ?? '';
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
