// Durations and ages for humans: "3 seconds ago", "about a minute", "1h2m".
export function humanDuration(ms: number): string {
  const s = Math.round(Math.max(0, ms) / 1000);
  if (s < 1) return 'less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'about a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(m / 60);
  if (h === 1) return 'about an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.round(h / 24);
  return `${d} days`;
}

export function ago(thenMs: number | bigint, nowMs = Date.now()): string {
  const t = Number(thenMs);
  if (!t) return '';
  return `${humanDuration(nowMs - t)} ago`;
}

/** Compact form of a duration in nanoseconds: 1h2m3s, 500ms, 0s. */
export function compactNanos(nanos: bigint | number): string {
  let ms = Number(nanos) / 1e6;
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let out = '';
  const h = Math.floor(ms / 3_600_000);
  ms -= h * 3_600_000;
  const m = Math.floor(ms / 60_000);
  ms -= m * 60_000;
  const s = ms / 1000;
  if (h) out += `${h}h`;
  if (m) out += `${m}m`;
  if (s) out += `${Number(s.toFixed(3))}s`;
  return out;
}
