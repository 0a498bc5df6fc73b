# Cross-compiling with a Debian cross toolchain (crossbuild-essential-ARCH) and the target's
# libraries unpacked from Debian's ARCH packages into MESHBROKER_CROSS_SYSROOT (scripts/cross
# makes it with apt-get download + dpkg-deb -x: nothing of ARCH is installed on this machine,
# so a skew between the archive's versions for ARCH and this machine's own cannot stop it).
# Included by the per-architecture files beside it, which set MESHBROKER_CROSS_TRIPLE (the GNU
# triplet, e.g. aarch64-linux-gnu) and MESHBROKER_CROSS_QEMU (the qemu-user-static binary that
# runs its programs). Header-only libraries (nlohmann-json, CLI11, mustache) are this machine's.
if(NOT MESHBROKER_CROSS_SYSROOT)
  message(FATAL_ERROR "MESHBROKER_CROSS_SYSROOT is not set: cross-build with scripts/cross")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES MESHBROKER_CROSS_SYSROOT)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${MESHBROKER_CROSS_PROCESSOR})
set(CMAKE_C_COMPILER ${MESHBROKER_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${MESHBROKER_CROSS_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${MESHBROKER_CROSS_TRIPLE})

# Libraries and their headers from the sysroot first, then this machine's /usr (headers only:
# it has no library of ARCH); programs (pkg-config, ...) are this machine's.
set(CMAKE_FIND_ROOT_PATH ${MESHBROKER_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# OpenSSL's configuration.h and friends live in the multiarch include folder.
set(CMAKE_C_FLAGS_INIT "-isystem ${MESHBROKER_CROSS_SYSROOT}/usr/include/${MESHBROKER_CROSS_TRIPLE}")
set(CMAKE_CXX_FLAGS_INIT "${CMAKE_C_FLAGS_INIT}")
# pkg-config (libnl) sees the target's .pc files only, their paths inside the sysroot.
set(ENV{PKG_CONFIG_LIBDIR} "${MESHBROKER_CROSS_SYSROOT}/usr/lib/${MESHBROKER_CROSS_TRIPLE}/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${MESHBROKER_CROSS_SYSROOT}")

# Test programs (gtest_discover_tests, ctest) run under user-mode emulation; the binaries are
# static, so no -L sysroot is needed.
set(CMAKE_CROSSCOMPILING_EMULATOR ${MESHBROKER_CROSS_QEMU})
