// Plain-text tables as Docker prints them: upper-case headers, columns padded with at least
// three spaces, the last column unpadded.
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** The first n characters of an id, as tables show them. */
export function shortId(id: string, n = 12): string {
  return id.slice(0, n);
}
