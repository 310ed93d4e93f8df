#include "fsops.h"
void InitFsOps(Napi::Env env, Napi::Object exports) { (void)env; (void)exports; }
