// Scripted interaction tests: each testdata/*.txt file is a sequence of commands with their
// expected output. UPDATE_GOLDEN=1 rewrites the expectations from the actual output.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Cmd, InteractionEnv } from './interaction/env.js';

const DIR = join(import.meta.dirname, 'testdata');

interface Block { cmdLine: string; expected: string; lead: string }

/** Blocks: optional comment/blank lines, a command line, "----", output lines up to a blank line. */
function parse(text: string): { blocks: Block[]; tail: string } {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let lead: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i]!;
    if (l.trim() === '') { i++; continue; }
    if (l.startsWith('#')) { lead.push(l); i++; continue; }
    const cmdLine = l;
    i++;
    if (lines[i] !== '----') throw new Error(`expected ---- after "${cmdLine}" (line ${i + 1})`);
    i++;
    const out: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '') out.push(lines[i++]!);
    blocks.push({ cmdLine, expected: out.join('\n'), lead: lead.join('\n') });
    lead = [];
  }
  return { blocks, tail: lead.join('\n') };
}

function parseCmd(line: string): Cmd {
  const toks = line.match(/\S+=\([^)]*\)|\S+/g) ?? [];
  const [name, ...rest] = toks;
  const args: string[] = [];
  const kv = new Map<string, string>();
  for (const t of rest) {
    const eq = t.indexOf('=');
    if (eq > 0) kv.set(t.slice(0, eq), t.slice(eq + 1));
    else args.push(t);
  }
  return { name: name!, args, kv };
}

describe('raft interactions', () => {
  for (const f of readdirSync(DIR).filter((n) => n.endsWith('.txt')).sort()) {
    it(f, () => {
      const path = join(DIR, f);
      const { blocks, tail } = parse(readFileSync(path, 'utf8'));
      const env = new InteractionEnv();
      const parts: string[] = [];
      let mismatch: { cmd: string; want: string; got: string } | undefined;
      for (const b of blocks) {
        const got = env.run(parseCmd(b.cmdLine));
        if (b.lead) parts.push(b.lead);
        parts.push(`${b.cmdLine}\n----\n${got}\n`);
        if (!mismatch && got !== b.expected) mismatch = { cmd: b.cmdLine, want: b.expected, got };
      }
      if (process.env.UPDATE_GOLDEN === '1') {
        writeFileSync(path, parts.join('\n') + (tail ? '\n' + tail : ''));
        return;
      }
      if (mismatch) expect(mismatch.got, `${f}: output of "${mismatch.cmd}" (UPDATE_GOLDEN=1 rewrites)`).toBe(mismatch.want);
    });
  }
});
