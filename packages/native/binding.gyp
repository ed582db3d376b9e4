{
  "targets": [
    {
      "target_name": "cr_native",
      "sources": [
        "src/addon.cc", "src/errors.cc", "src/procfs.cc", "src/kerndat.cc", "src/freeze.cc", "src/frozen-copy.cc",
        "src/registers.cc", "src/trampoline.cc", "src/inject.cc", "src/memory.cc", "src/pool_job.cc", "src/pagemap.cc", "src/secure-written.cc", "src/uffd.cc",
        "src/storefs.cc", "src/storedir.cc", "src/xxhash64.cc", "src/pipes.cc", "src/shmem.cc", "src/spawn.cc", "src/tree.cc", "src/seccomp.cc", "src/kcmp.cc", "src/descriptions.cc", "src/sockets.cc", "src/eventfd.cc", "src/epoll.cc", "src/inet-sockets.cc", "src/sockopt.cc", "src/timerfd.cc", "src/signalfd.cc", "src/terminal.cc", "src/tcp-repair.cc", "src/inotify.cc", "src/lz4.cc"
      ],
      "libraries": ["-llz4"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++20", "-O2", "-Wall", "-Wextra", "-fno-exceptions", "-pthread"],
      "ldflags": ["-pthread"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"]
    },
    {
      "target_name": "restore_stub",
      "type": "none",
      "actions": [
        {
          "action_name": "link_restore_stub",
          "inputs": ["stub/restore-stub.c"],
          "outputs": ["<(PRODUCT_DIR)/restore-stub"],
          "action": ["cc", "-O2", "-static", "-nostdlib", "-fno-pie", "-no-pie", "-fno-stack-protector", "-fcf-protection=none",
                     "-Wl,-Ttext-segment=0x3ff000000000", "-Wl,--build-id=none", "-o", "<@(_outputs)", "<@(_inputs)"]
        }
      ]
    },
    {
      "target_name": "terminal_holder",
      "type": "none",
      "actions": [
        {
          "action_name": "link_terminal_holder",
          "inputs": ["stub/terminal-holder.c"],
          "outputs": ["<(PRODUCT_DIR)/terminal-holder"],
          "action": ["cc", "-O2", "-Wall", "-Werror", "-o", "<@(_outputs)", "<@(_inputs)"]
        }
      ]
    }
  ]
}
