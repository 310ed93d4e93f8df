#include "fsops.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace {

// Node's fs errors carry the errno name in `code`; ours do the same so callers can switch on it.
const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ERANGE: return "ERANGE";
    case E2BIG: return "E2BIG";
    case ENOTSUP: return "ENOTSUP";
    case ENODATA: return "ENODATA";
    case EWOULDBLOCK: return "EWOULDBLOCK";
    case EBADF: return "EBADF";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EINTR: return "EINTR";
    default: return "EUNKNOWN";
  }
}

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path) {
  std::string msg = std::string(ErrnoName(err)) + ": " + strerror(err) + ", " + syscall + " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.Set("path", Napi::String::New(env, path));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// mknod(path, mode, major, minor): mode includes the file type bits (S_IFCHR, S_IFBLK, S_IFIFO).
Napi::Value Mknod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() ||
      !info[3].IsNumber()) {
    return ThrowType(env, "mknod(path: string, mode: number, major: number, minor: number)");
  }
  std::string path = info[0].As<Napi::String>();
  mode_t mode = info[1].As<Napi::Number>().Uint32Value();
  dev_t dev = makedev(info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Uint32Value());
  if (mknod(path.c_str(), mode, dev) != 0) return ThrowErrno(env, errno, "mknod", path);
  return env.Undefined();
}

// lsetxattr(path, name, value: Buffer): never follows a final symlink.
Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsBuffer()) {
    return ThrowType(env, "lsetxattr(path: string, name: string, value: Buffer)");
  }
  std::string path = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  auto value = info[2].As<Napi::Buffer<uint8_t>>();
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), 0) != 0) {
    return ThrowErrno(env, errno, "lsetxattr", path);
  }
  return env.Undefined();
}

// lgetxattr(path, name): Buffer, or null when the attribute is absent.
Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    return ThrowType(env, "lgetxattr(path: string, name: string)");
  }
  std::string path = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t size = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) {
      if (errno == ENODATA) return env.Null();
      return ThrowErrno(env, errno, "lgetxattr", path);
    }
    std::vector<uint8_t> buf(static_cast<size_t>(size) + 1);
    ssize_t got = lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    if (got < 0) {
      if (errno == ERANGE) continue;  // grew between the two calls
      if (errno == ENODATA) return env.Null();
      return ThrowErrno(env, errno, "lgetxattr", path);
    }
    return Napi::Buffer<uint8_t>::Copy(env, buf.data(), static_cast<size_t>(got));
  }
  return ThrowErrno(env, ERANGE, "lgetxattr", path);
}

// llistxattr(path): string[] of attribute names.
Napi::Value Llistxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return ThrowType(env, "llistxattr(path: string)");
  std::string path = info[0].As<Napi::String>();
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t size = llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) return ThrowErrno(env, errno, "llistxattr", path);
    std::vector<char> buf(static_cast<size_t>(size) + 1);
    ssize_t got = llistxattr(path.c_str(), buf.data(), buf.size());
    if (got < 0) {
      if (errno == ERANGE) continue;
      return ThrowErrno(env, errno, "llistxattr", path);
    }
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    for (ssize_t i = 0; i < got;) {
      size_t len = strnlen(buf.data() + i, static_cast<size_t>(got - i));
      if (len > 0) out.Set(n++, Napi::String::New(env, buf.data() + i, len));
      i += static_cast<ssize_t>(len) + 1;
    }
    return out;
  }
  return ThrowErrno(env, ERANGE, "llistxattr", path);
}

// flock(fd, exclusive, wait): true when the lock was taken. Without `wait` it never blocks the
// event loop; callers poll, because a blocking flock would stall every other request.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
    return ThrowType(env, "flock(fd: number, op: 'ex' | 'sh' | 'un')");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string op = info[1].As<Napi::String>();
  int how = op == "ex" ? LOCK_EX : op == "sh" ? LOCK_SH : op == "un" ? LOCK_UN : -1;
  if (how < 0) return ThrowType(env, "flock: op must be 'ex', 'sh' or 'un'");
  if (how != LOCK_UN) how |= LOCK_NB;
  while (flock(fd, how) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
    return ThrowErrno(env, errno, "flock", std::to_string(fd));
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace

void InitFsOps(Napi::Env env, Napi::Object exports) {
  exports.Set("mknod", Napi::Function::New(env, Mknod, "mknod"));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr, "lsetxattr"));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr, "lgetxattr"));
  exports.Set("llistxattr", Napi::Function::New(env, Llistxattr, "llistxattr"));
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
}
