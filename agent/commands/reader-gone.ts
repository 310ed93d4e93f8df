// A reader that went away (`shoal container run … | head -2`): writes to the closed pipe fail
// with EPIPE, which Node reports as an 'error' event; unhandled, it killed the CLI at once and
// left the container running (and, with --rm, never removed). Node ignores SIGPIPE, so this is
// where a command learns that nobody reads its output any more.
let gone: AbortController | undefined;

/** Aborted once stdout or stderr can no longer be written (EPIPE, or any other write error). */
export function outputClosed(): AbortSignal {
  if (!gone) {
    const ac = new AbortController();
    gone = ac;
    // listeners stay for the life of the process: a later write to the closed pipe errors again
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => ac.abort());
  }
  return gone.signal;
}

/** The exit status of a command whose reader went away, as a shell reports one killed by SIGPIPE. */
export const EXIT_READER_GONE = 128 + 13;
