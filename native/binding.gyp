{
  "targets": [
    {
      "target_name": "shoal_native",
      "sources": ["src/addon.cc", "src/fsops.cc", "src/spawn.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall"]
    },
    {
      # The per-container supervisor: a plain single-threaded C program, never linked to Node.
      "target_name": "shoal-shim",
      "type": "executable",
      "sources": [
        "shim/main.c", "shim/config.c", "shim/util.c", "shim/process.c", "shim/rootfs.c",
        "shim/logger.c", "shim/run.c", "shim/exec.c", "shim/devices.c",
        "shim/seccomp.c", "shim/caps.c", "shim/options.c", "shim/init.c",
        "shim/fds.c", "shim/sealed.c"
      ],
      "cflags": ["-std=gnu11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      # static: no dynamic loader work on every container start (about a millisecond)
      "ldflags": ["-static"],
      "libraries": ["-lseccomp"]
    },
    {
      # The userspace GRE data path (hosts whose kernel has no gretap): one single-threaded
      # epoll process per host, started and supervised by overlay-net/gre.
      "target_name": "shoal-gre",
      "type": "executable",
      "sources": ["gre/main.c", "gre/control.c", "gre/table.c", "gre/datapath.c", "gre/coalesce.c"],
      "cflags": ["-std=gnu11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-static"]
    }
  ]
}
