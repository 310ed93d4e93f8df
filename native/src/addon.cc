// Entry point of the shoal native addon: each concern registers its functions here.
#include <napi.h>
#include "fsops.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitFsOps(env, exports);
  return exports;
}

NODE_API_MODULE(shoal_native, Init)
