/* Capabilities of a container's processes: Docker's default set, tweaked by the config's
 * capadd/capdrop names (Docker's rules, "ALL" included), limited to what this kernel knows. */
#pragma once
#include "config.h"
#include <stdint.h>

/* The capability number of NAME ("NET_ADMIN", "cap_net_admin", any case), or -1. */
int caps_lookup(const char *name);

/* The set the container's processes may hold, as a bit mask; -1 with shim_error set when a
 * name is unknown or names a capability this kernel or the shim itself lacks. */
int caps_compute(const struct shim_config *c, uint64_t *out);
