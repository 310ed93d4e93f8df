// Splits a command string into words the way Compose does (POSIX shell quoting, no expansion):
// `command: echo "a b"` runs ["echo", "a b"].

export function splitShellWords(s: string): string[] | { error: string } {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return { error: 'unterminated single quote' };
      cur += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= s.length) return { error: 'unterminated double quote' };
        const d = s[i]!;
        if (d === '"') { i++; break; }
        if (d === '\\' && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1]!)) { cur += s[i + 1]; i += 2; continue; }
        cur += d;
        i++;
      }
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 < s.length) cur += s[i + 1];
      inWord = true;
      i += 2;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) { words.push(cur); cur = ''; inWord = false; }
      i++;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}
