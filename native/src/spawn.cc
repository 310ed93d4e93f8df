// spawnShim(path, args) -> Promise<{ status, stdout }>: posix_spawn (vfork + exec, no copy of
// Node's address space) of a short-lived helper whose stdout is collected and whose exit is
// reaped on a libuv pool thread, so the event loop never blocks. Used for `shoal-shim run`,
// which prints one line and exits while its daemonized supervisor lives on.
//
// Every spawn passes the child stdin, stdout and stderr and nothing else: a descriptor that
// this process inherited without close-on-exec (from a shell's `exec 200</`, from whatever
// started the daemon) would otherwise reach the shim, and through it a container.
#include "spawn.h"
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <map>
#include <mutex>
#include <string>
#include <vector>

extern char **environ;

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

namespace {

// After the file actions that set up 0, 1 and 2: close everything above them in the child.
void CloseTheRest(posix_spawn_file_actions_t *fa) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(fa, 3);
#endif
  // (an older libc: the shim closes what it inherited itself, first thing in main)
}

// argv[0] is the name the caller gives (the shim's path, which ps and shimAlive() look for),
// not necessarily the file exec'd (a sealed copy's /proc path).
std::vector<char *> Argv(std::vector<std::string> &args, const std::string &argv0) {
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  if (!argv0.empty()) argv[0] = const_cast<char *>(argv0.c_str());
  argv.push_back(nullptr);
  return argv;
}

class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Env env, std::vector<std::string> argv, std::string argv0)
      : Napi::AsyncWorker(env), argv_(std::move(argv)), argv0_(std::move(argv0)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0) return SetError(std::string("pipe: ") + strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    // Node marks its own stderr close-on-exec; dup2 onto itself clears that (glibc >= 2.29)
    // so the helper's diagnostics still reach our stderr
    posix_spawn_file_actions_adddup2(&fa, 2, 2);
    CloseTheRest(&fa);
    std::vector<char *> argv = Argv(argv_, argv0_);
    pid_t pid;
    int rc = posix_spawn(&pid, argv_[0].c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
      close(out[0]);
      return SetError("spawn " + argv_[0] + ": " + strerror(rc));
    }
    char buf[4096];
    for (;;) {
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      stdout_.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object res = Napi::Object::New(env);
    res.Set("status", Napi::Number::New(env, status_));
    res.Set("stdout", Napi::String::New(env, stdout_));
    deferred_.Resolve(res);
  }

  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  std::vector<std::string> argv_;
  std::string argv0_;
  Napi::Promise::Deferred deferred_;
  std::string stdout_;
  int status_ = -1;
};

Napi::Value SpawnShim(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray()) {
    Napi::TypeError::New(env, "spawnShim(path: string, args: string[], argv0?: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<std::string> argv{info[0].As<Napi::String>().Utf8Value()};
  Napi::Array args = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < args.Length(); i++) argv.push_back(args.Get(i).ToString().Utf8Value());
  std::string argv0 = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  auto *w = new SpawnWorker(env, std::move(argv), std::move(argv0));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// Fills a new pipe with `data` and closes its write end: the reader gets the bytes, then EOF.
// The data must fit the pipe's buffer (it is written before anyone reads); false with errno set.
bool FilledPipe(const uint8_t *data, size_t len, int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) < 0) return false;
  if (len > 65536 && fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(len)) < 0) {
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    errno = e;
    return false;
  }
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fds[1], data + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      close(fds[0]);
      close(fds[1]);
      errno = e;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  close(fds[1]);
  return true;
}

// spawnPiped(path, args, setsid?, stdin?, argv0?) -> { pid, fd }: the same spawn, synchronously
// (posix_spawn is a vfork: well under a millisecond), handing back the read end of the child's
// stdout so that the event loop itself can wait for the report (a net.Socket on a pipe): no pool
// thread on the path. `stdin` (a Buffer) becomes the child's standard input, read to EOF
// (the shim's config: no file to create and delete per container); /dev/null otherwise.
Napi::Value SpawnPiped(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray()) {
    Napi::TypeError::New(env, "spawnPiped(path: string, args: string[], setsid?: boolean, stdin?: Buffer, argv0?: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int in[2] = {-1, -1};
  if (info.Length() > 3 && info[3].IsBuffer()) {
    Napi::Buffer<uint8_t> buf = info[3].As<Napi::Buffer<uint8_t>>();
    if (!FilledPipe(buf.Data(), buf.Length(), in)) {
      Napi::Error::New(env, std::string("stdin pipe: ") + strerror(errno)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  std::vector<std::string> args{info[0].As<Napi::String>().Utf8Value()};
  Napi::Array arr = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) args.push_back(arr.Get(i).ToString().Utf8Value());
  int out[2];
  if (pipe2(out, O_CLOEXEC) < 0) {
    if (in[0] >= 0) close(in[0]);
    Napi::Error::New(env, std::string("pipe: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in[0] >= 0) posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, 2, 2);
  CloseTheRest(&fa);
  std::string argv0 = info.Length() > 4 && info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "";
  std::vector<char *> argv = Argv(args, argv0);
  // setsid: the child starts as a session leader, so a supervisor needs no fork of its own
  bool setsid = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (setsid) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0].c_str(), &fa, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (in[0] >= 0) close(in[0]);
  if (rc != 0) {
    close(out[0]);
    Napi::Error::New(env, "spawn " + args[0] + ": " + strerror(rc)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object res = Napi::Object::New(env);
  res.Set("pid", Napi::Number::New(env, pid));
  res.Set("fd", Napi::Number::New(env, out[0]));
  return res;
}

// reap(pid) -> exit status (128+signal when killed). Blocks: call it once the child is known to
// be exiting (its stdout reached EOF).
Napi::Value Reap(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "reap(pid: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  int st = 0;
  pid_t r;
  while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
  }
  if (r < 0) {
    Napi::Error::New(env, std::string("waitpid: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

// tryReap(pid) -> exit status, or null while the child still runs (waitpid WNOHANG).
Napi::Value TryReap(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "tryReap(pid: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int st = 0;
  pid_t r;
  while ((r = waitpid(info[0].As<Napi::Number>().Int32Value(), &st, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r == 0) return env.Null();
  if (r < 0) return Napi::Number::New(env, -1);  // not our child (any more): nothing to reap
  return Napi::Number::New(env, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

// A sealed memfd copy of the file at `path`, made once per path for the life of this process
// (the shim's defence against CVE-2019-5736, see native/shim/sealed.h: one copy shared by every
// shim this agent starts instead of one per start). Spawned through "/proc/PID/fd/N" of this
// process, which stays valid in a child that closed its own descriptors; close-on-exec, so no
// child holds it. A rebuilt binary is picked up by the next process, not this one.
std::map<std::string, std::string> sealed_copies;
std::mutex sealed_mutex;  // worker threads may load the addon too

bool CopyInto(int dst, int src) {
  char buf[128 * 1024];
  for (;;) {
    ssize_t n = read(src, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(dst, buf + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      off += w;
    }
  }
}

std::string MakeSealedCopy(const std::string &path, std::string &err) {
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) {
    err = "open " + path + ": " + strerror(errno);
    return "";
  }
  const char *base = strrchr(path.c_str(), '/');
  const char *name = base ? base + 1 : path.c_str();
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    bool refused = errno == EACCES || errno == EPERM;
    err = std::string("memfd_create: ") + strerror(errno) + (refused ? " (executable memfds refused: vm.memfd_noexec=2?)" : "");
    close(src);
    return "";
  }
  bool copied = CopyInto(fd, src);
  int e = errno;
  close(src);
  const int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  if (!copied || (fcntl(fd, F_ADD_SEALS, seals | F_SEAL_EXEC) < 0 && fcntl(fd, F_ADD_SEALS, seals) < 0)) {
    err = std::string(copied ? "seal the copy of " : "copy ") + path + ": " + strerror(copied ? errno : e);
    close(fd);
    return "";
  }
  std::string proc = "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd);
  struct stat a, b;
  // a /proc of another pid namespace would name some other process's descriptor
  if (fstat(fd, &a) < 0 || stat(proc.c_str(), &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
    err = "the sealed copy of " + path + " is not reachable as " + proc;
    close(fd);
    return "";
  }
  return proc;
}

// sealedCopy(path) -> the path to exec instead of `path` (throws when no copy can be made).
Napi::Value SealedCopy(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "sealedCopy(path: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::lock_guard<std::mutex> hold(sealed_mutex);
  auto it = sealed_copies.find(path);
  if (it == sealed_copies.end()) {
    std::string err;
    std::string proc = MakeSealedCopy(path, err);
    if (proc.empty()) {
      Napi::Error::New(env, err).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    it = sealed_copies.emplace(path, proc).first;
  }
  return Napi::String::New(env, it->second);
}

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnShim", Napi::Function::New(env, SpawnShim, "spawnShim"));
  exports.Set("spawnPiped", Napi::Function::New(env, SpawnPiped, "spawnPiped"));
  exports.Set("reap", Napi::Function::New(env, Reap, "reap"));
  exports.Set("tryReap", Napi::Function::New(env, TryReap, "tryReap"));
  exports.Set("sealedCopy", Napi::Function::New(env, SealedCopy, "sealedCopy"));
  // spawnPiped takes a stdin Buffer (older builds ignore it: callers check this flag)
  exports.Set("spawnPipedStdin", Napi::Boolean::New(env, true));
}
