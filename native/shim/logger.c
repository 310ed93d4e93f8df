#include "logger.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int logger_open(struct logger *l, const char *path, long long max_bytes, int max_files) {
  l->path = path;
  l->max_bytes = max_bytes;
  l->max_files = max_files < 1 ? 1 : max_files;
  l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (l->fd < 0) return fail(1, "open log %s", path);
  l->size = lseek(l->fd, 0, SEEK_END);
  return 0;
}

static void rotate(struct logger *l) {
  char from[4200], to[4200];
  close(l->fd);
  if (l->max_files == 1) {
    l->fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
  } else {
    for (int i = l->max_files - 1; i >= 1; i--) {
      if (i == 1) snprintf(from, sizeof from, "%s", l->path);
      else snprintf(from, sizeof from, "%s.%d", l->path, i - 1);
      snprintf(to, sizeof to, "%s.%d", l->path, i);
      rename(from, to); /* a missing older file is fine */
    }
    l->fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
  }
  l->size = 0;
}

/* JSON-escapes text into out (worst case 6 bytes per input byte). */
static size_t escape(const char *in, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)in[i];
    if (ch == '"' || ch == '\\') { out[o++] = '\\'; out[o++] = (char)ch; }
    else if (ch == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
    else if (ch == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
    else if (ch == '\t') { out[o++] = '\\'; out[o++] = 't'; }
    else if (ch < 0x20 || ch == 0x7f) {
      memcpy(out + o, "\\u00", 4);
      out[o + 4] = hex[ch >> 4];
      out[o + 5] = hex[ch & 15];
      o += 6;
    } else out[o++] = (char)ch;
  }
  return o;
}

/* Writes one record; `text` excludes the newline, which is kept in the record as Docker does. */
static void emit(struct logger *l, const char *stream, const char *text, size_t n, int newline) {
  static char line[16384 * 6 + 256];
  char now[64];
  format_now(now, sizeof now);
  size_t o = (size_t)snprintf(line, sizeof line, "{\"time\":\"%s\",\"stream\":\"%s\",\"text\":\"", now, stream);
  o += escape(text, n, line + o);
  if (newline) { line[o++] = '\\'; line[o++] = 'n'; }
  memcpy(line + o, "\"}\n", 3);
  o += 3;
  if (l->size > 0 && l->max_bytes > 0 && l->size + (long long)o > l->max_bytes) rotate(l);
  if (l->fd >= 0 && write_all(l->fd, line, o) == 0) l->size += (long long)o;
}

int logger_pump(struct logger *l, struct log_stream *s) {
  for (;;) {
    ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 0;
    if (n <= 0) {
      if (s->len) emit(l, s->name, s->buf, s->len, 0);
      s->len = 0;
      close(s->fd);
      s->fd = -1;
      return n < 0 ? -1 : 0;
    }
    s->len += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++) {
      if (s->buf[i] == '\n') {
        emit(l, s->name, s->buf + start, i - start, 1);
        start = i + 1;
      }
    }
    if (start == 0 && s->len == sizeof s->buf) { /* a line longer than the buffer: cut it */
      emit(l, s->name, s->buf, s->len, 0);
      s->len = 0;
    } else if (start > 0) {
      memmove(s->buf, s->buf + start, s->len - start);
      s->len -= start;
    }
  }
}
