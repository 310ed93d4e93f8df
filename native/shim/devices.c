#include "devices.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_W | BPF_MEM, d, s, o, 0)
#define MOV32_REG(d, s) INSN(BPF_ALU | BPF_MOV | BPF_X, d, s, 0, 0)
#define ALU32_IMM(op, d, i) INSN(BPF_ALU | (op) | BPF_K, d, 0, 0, i)
#define JMP_IMM(op, d, i, o) INSN(BPF_JMP | (op) | BPF_K, d, 0, o, i)
#define JA(o) INSN(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* r1 = struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major, minor; }.
 * Jump offsets count instructions from the next one; labels noted on the right. */
static const struct bpf_insn program[] = {
  LDX_W(2, 1, 0),                      /* 0  r2 = access_type */
  MOV32_REG(3, 2),                     /* 1  r3 = type */
  ALU32_IMM(BPF_AND, 3, 0xffff),       /* 2 */
  ALU32_IMM(BPF_RSH, 2, 16),           /* 3  r2 = access */
  LDX_W(4, 1, 4),                      /* 4  r4 = major */
  LDX_W(5, 1, 8),                      /* 5  r5 = minor */
  JMP_IMM(BPF_JEQ, 2, BPF_DEVCG_ACC_MKNOD, 16), /* 6  mknod alone: allow (23) */
  JMP_IMM(BPF_JNE, 3, BPF_DEVCG_DEV_CHAR, 13),  /* 7  not a char device: deny (21) */
  JMP_IMM(BPF_JNE, 4, 1, 6),           /* 8  major 1? else 15 */
  JMP_IMM(BPF_JEQ, 5, 3, 13),          /* 9  null */
  JMP_IMM(BPF_JEQ, 5, 5, 12),          /* 10 zero */
  JMP_IMM(BPF_JEQ, 5, 7, 11),          /* 11 full */
  JMP_IMM(BPF_JEQ, 5, 8, 10),          /* 12 random */
  JMP_IMM(BPF_JEQ, 5, 9, 9),           /* 13 urandom */
  JA(6),                               /* 14 deny */
  JMP_IMM(BPF_JNE, 4, 5, 4),           /* 15 major 5? else 20 */
  JMP_IMM(BPF_JEQ, 5, 0, 6),           /* 16 tty */
  JMP_IMM(BPF_JEQ, 5, 1, 5),           /* 17 console */
  JMP_IMM(BPF_JEQ, 5, 2, 4),           /* 18 ptmx */
  JA(1),                               /* 19 deny */
  JMP_IMM(BPF_JEQ, 4, 136, 2),         /* 20 major 136, the ptys: allow */
  MOV64_IMM(0, 0),                     /* 21 deny */
  EXIT(),                              /* 22 */
  MOV64_IMM(0, 1),                     /* 23 allow */
  EXIT(),                              /* 24 */
};

int devices_bpf_attach(const char *cgroup_dir) {
  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (uint64_t)(uintptr_t)program;
  load.insn_cnt = sizeof program / sizeof *program;
  load.license = (uint64_t)(uintptr_t)"GPL";
  int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
  if (prog < 0) return fail(1, "load the device-access BPF program");
  int cg = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) {
    close(prog);
    return fail(1, "open cgroup %s", cgroup_dir);
  }
  union bpf_attr attach;
  memset(&attach, 0, sizeof attach);
  attach.target_fd = (uint32_t)cg;
  attach.attach_bpf_fd = (uint32_t)prog;
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach);
  int saved = errno;
  /* the attachment holds its own reference: the program lives as long as the cgroup */
  close(cg);
  close(prog);
  errno = saved;
  if (rc < 0) return fail(1, "attach the device-access BPF program to %s", cgroup_dir);
  return 0;
}
