// Byte counts and CPU amounts for humans (binary units, as Docker prints memory).
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function humanBytes(n: bigint | number): string {
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : Number(v.toFixed(2))}${UNITS[i]}`;
}

export function humanCpus(nano: bigint | number): string {
  return String(Number(nano) / 1e9);
}
