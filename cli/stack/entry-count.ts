// A cheap lower bound of the values in a YAML document, read from its lines: every line that
// starts a list item or a mapping key holds at least one value. One pass, no parsing, so that
// a file over the node budget is refused in milliseconds instead of after seconds of parsing
// (the yaml package costs about 1 s of CPU per MiB of dense keys). Lines inside block scalars
// (`|`, `>`) and multi-line quoted scalars are skipped, so the count never exceeds the truth.

const keyLine = /^(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"{[\]},&*!|>%@`-][^#]*?|-[^\s#][^#]*?):(?:\s|$)/;
const blockStart = /(?:^|\s)[|>][-+0-9]*\s*(?:#.*)?$/;

export interface EntryCount {
  /** Lines that start a key or a list item, counted until `stopAfter` is passed. */
  entries: number;
  /** 1-based line where the count passed `stopAfter` (0 when it did not). */
  line: number;
}

export function countEntryLines(text: string, stopAfter: number): EntryCount {
  let entries = 0;
  let lineNo = 0;
  let blockIndent = -1; // inside a block scalar whose parent line has this indentation
  let quote = ''; // inside a quoted scalar that spans lines
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const line = text.slice(start, end);
    start = end + 1;
    if (quote !== '') {
      if (closesQuote(line, quote)) quote = '';
      continue;
    }
    let i = 0;
    while (i < line.length && line.charCodeAt(i) === 32) i++;
    if (i === line.length || line[i] === '#' || line[i] === '\r') continue;
    if (blockIndent >= 0) {
      if (i > blockIndent) continue;
      blockIndent = -1;
    }
    let rest = line.slice(i);
    let isEntry = false;
    // "- " items, possibly "- key: value" (counted once: a lower bound)
    while (rest.startsWith('- ') || rest === '-' || rest === '-\r') {
      isEntry = true;
      rest = rest.slice(2).trimStart();
    }
    const key = keyLine.exec(rest);
    if (key) {
      isEntry = true;
      rest = rest.slice(key[0].length).trimStart();
    }
    if (isEntry && ++entries > stopAfter) return { entries, line: lineNo };
    if (blockStart.test(line) && (rest.startsWith('|') || rest.startsWith('>'))) blockIndent = i;
    else if ((rest.startsWith('"') || rest.startsWith("'")) && !closesQuote(rest.slice(1), rest[0]!)) quote = rest[0]!;
  }
  return { entries, line: 0 };
}

/** True when `s` holds the closing quote (a `"` not escaped by `\`; a `'` not doubled). */
function closesQuote(s: string, q: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (q === '"' && s[i] === '\\') { i++; continue; }
    if (s[i] === q) {
      if (q === "'" && s[i + 1] === "'") { i++; continue; }
      return true;
    }
  }
  return false;
}
