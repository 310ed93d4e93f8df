// Shell completion from the command definitions themselves: the script asks
// `shoal __complete WORD...` for candidates, which loads only the group being completed (as
// every other command does), walks its commander definitions and prints "name<TAB>summary".
import type { Command } from 'commander';

export type GroupLoader = (name: string) => Promise<((program: Command) => void) | undefined>;

/** Candidates for the last of `words` (the word being typed; "" for a new one). */
export async function completions(program: Command, words: string[], summaries: Readonly<Record<string, string>>, load: GroupLoader): Promise<string[]> {
  const typed = words[words.length - 1] ?? '';
  const before = words.slice(0, -1);
  const match = (rows: [string, string][]) => rows.filter(([n]) => n.startsWith(typed)).map(([n, d]) => (d ? `${n}\t${d}` : n));
  if (before.length === 0) return match(Object.entries(summaries));
  const register = await load(before[0]!);
  if (!register) return [];
  register(program);
  let cmd = program.commands.find((c) => c.name() === before[0]);
  for (const w of before.slice(1)) {
    if (!cmd || w.startsWith('-')) continue;
    const sub: Command | undefined = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (sub) cmd = sub;
  }
  if (!cmd) return [];
  const rows: [string, string][] = typed.startsWith('-')
    ? cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f).map((f): [string, string] => [f, o.description]))
    : cmd.commands.map((c): [string, string] => [c.name(), c.description()]);
  return match(rows);
}

export function completionScript(shell: string): string {
  switch (shell) {
    case 'bash':
      return [
        '# shoal completion for bash: eval "$(shoal completion bash)"',
        '_shoal() {',
        '  local IFS=$\'\\n\'',
        '  local words=("${COMP_WORDS[@]:1:COMP_CWORD}")',
        '  COMPREPLY=($(shoal __complete "${words[@]}" 2>/dev/null | cut -f1))',
        '}',
        'complete -o default -F _shoal shoal',
        '',
      ].join('\n');
    case 'zsh':
      return [
        '#compdef shoal',
        '# shoal completion for zsh: eval "$(shoal completion zsh)"',
        '_shoal() {',
        '  local -a rows; local tab=$\'\\t\'',
        '  rows=("${(@f)$(shoal __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")',
        '  rows=("${(@)rows//:/\\\\:}")',
        '  rows=("${(@)rows//$tab/:}")',
        '  _describe shoal rows',
        '}',
        'compdef _shoal shoal',
        '',
      ].join('\n');
    default:
      throw new Error(`unreachable: ${shell}`);
  }
}
