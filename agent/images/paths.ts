// Where a real install keeps its images: SHOAL_ROOT/images (SHOAL_ROOT defaults to /var/lib/shoal).
import { join } from 'node:path';

export function defaultShoalRoot(): string {
  return process.env.SHOAL_ROOT && process.env.SHOAL_ROOT !== '' ? process.env.SHOAL_ROOT : '/var/lib/shoal';
}

export function imageStoreRoot(shoalRoot: string = defaultShoalRoot()): string {
  return join(shoalRoot, 'images');
}
