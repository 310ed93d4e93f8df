/* The container's stdout/stderr as JSON lines {"time","stream","text"}, one per output line,
 * rotated by size: container.log -> container.log.1 -> ... up to max files in all. */
#pragma once
#include <stddef.h>

struct log_stream {
  const char *name;       /* "stdout" | "stderr" */
  int fd;                 /* read end of the container's pipe, -1 once closed */
  char buf[16384];        /* a partial line waiting for its newline */
  size_t len;
};

struct logger {
  const char *path;
  long long max_bytes;
  int max_files;
  int fd;
  long long size;
};

int logger_open(struct logger *l, const char *path, long long max_bytes, int max_files);

/* Reads what is available on s->fd and logs every complete line; at EOF it logs the rest and
 * closes the fd. Returns 0, or -1 on a read error (the stream is closed then too). */
int logger_pump(struct logger *l, struct log_stream *s);
