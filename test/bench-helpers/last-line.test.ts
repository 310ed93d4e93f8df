import { describe, expect, it } from 'vitest';
import { checkLastLine } from './last-line.js';

describe('checkLastLine (the benchmarks output contract)', () => {
  it('takes the last non-empty line when it is one JSON object naming the bench', () => {
    const out = 'progress 1\n{"system":"shoal","conc":1}\n{"bench":"raft","shoal_ops_c64":10}\n\n';
    expect(checkLastLine(out, 'raft')).toEqual({ json: '{"bench":"raft","shoal_ops_c64":10}' });
  });

  it('refuses output whose last line is not a JSON object naming the bench', () => {
    expect(checkLastLine('', 'raft').error).toMatch(/nothing/);
    expect(checkLastLine('{"bench":"raft"}\ndone\n', 'raft').error).toMatch(/not JSON: done/);
    expect(checkLastLine('[1,2]\n', 'raft').error).toMatch(/not an object/);
    expect(checkLastLine('{"bench":"converge"}\n', 'raft').error).toMatch(/names bench "converge", not "raft"/);
  });
});
