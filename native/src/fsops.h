// File-system calls Node lacks (mknod, xattrs, flock), used by the image store's layer unpacker
// and its cross-process lock. Each throws a JS Error carrying `code` (errno name) and `errno`.
#pragma once
#include <napi.h>
void InitFsOps(Napi::Env env, Napi::Object exports);
