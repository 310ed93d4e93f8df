// `shoal config create|ls|inspect|rm`: the same commands as `shoal secret` (secret.ts), for
// configs, whose data `inspect` shows.
import type { Command } from 'commander';
import { registerFileObjectCommands } from './secret.js';

export function registerConfigCommands(program: Command): void {
  registerFileObjectCommands(program, 'config');
}
