// Starting the container shim from Node without forking the (multi-threaded) Node process.
#pragma once
#include <napi.h>
void InitSpawn(Napi::Env env, Napi::Object exports);
