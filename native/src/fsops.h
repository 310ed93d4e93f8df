// File-system calls Node lacks (mknod, xattrs), used by the image store's layer unpacker.
#pragma once
#include <napi.h>
void InitFsOps(Napi::Env env, Napi::Object exports);
