/* Small helpers shared by the shim's parts: error text kept for the caller, file writes. */
#pragma once
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <sys/types.h>

/* The last failure, as one line for the caller (set by fail()). */
extern char shim_error[1024];

/* Formats the failure into shim_error (appending strerror(errno) when with_errno) and returns -1. */
int fail(int with_errno, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes all of buf, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);

/* Writes text to path atomically (temp file + rename) so readers never see half a file. */
int write_file_atomic(const char *path, const char *text);

/* Writes text to an existing file (cgroup.procs, sysctl-like files). */
int write_file(const char *path, const char *text);

/* Reads up to cap-1 bytes of path into buf, NUL-terminated; returns bytes read or -1. */
ssize_t read_file(const char *path, char *buf, size_t cap);

/* mkdir -p relative to the current root; mode for every created directory. */
int mkdir_p(const char *path, mode_t mode);

/* Current wall-clock time as RFC 3339 with nanoseconds, UTC, into buf (>= 40 bytes). */
void format_now(char *buf, size_t cap);

/* With SHOAL_SHIM_TRACE set, writes "trace <pid> <phase> <CLOCK_MONOTONIC microseconds>" to
 * stderr (the supervisor's stderr is shim.log, made only when tracing): where a container start
 * spends its time. */
void trace_init(void);
void trace(const char *phase);
/* Keeps tracing to the current stderr after fd 2 is replaced (the container's init). */
void trace_keep_fd(void);
