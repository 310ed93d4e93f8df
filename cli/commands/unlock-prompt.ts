// Reads the unlock key for `shoal unlock`: a prompt without echo on a terminal, else stdin
// (`shoal unlock-key -q | ssh host shoal unlock`, or a file redirected in).
import { stdin, stderr } from 'node:process';

export async function readUnlockKey(): Promise<string> {
  if (!stdin.isTTY) {
    const parts: Buffer[] = [];
    for await (const chunk of stdin) parts.push(chunk as Buffer);
    return Buffer.concat(parts).toString('utf8').trim();
  }
  stderr.write('Enter unlock key: ');
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      const onData = (b: Buffer): void => {
        for (const ch of b.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return finish(typed);
          if (ch === '\u0003') return fail(new Error('interrupted'));
          if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
          else typed += ch;
        }
      };
      const finish = (v: string): void => {
        stdin.off('data', onData);
        resolve(v.trim());
      };
      const fail = (e: Error): void => {
        stdin.off('data', onData);
        reject(e);
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stderr.write('\n');
  }
}
