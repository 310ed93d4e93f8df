// Entry point of the shoal native addon: each concern registers its functions here.
#include <napi.h>
#include "fsops.h"
#include "spawn.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitFsOps(env, exports);
  InitSpawn(env, exports);
  return exports;
}

NODE_API_MODULE(shoal_native, Init)
