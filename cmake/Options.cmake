# Warnings and sanitizer options for every meshbroker target, kept in one place.
option(MESHBROKER_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(MESHBROKER_FUZZ "Build libFuzzer targets (needs clang)" OFF)
option(MESHBROKER_TSAN "Build with ThreadSanitizer (not with MESHBROKER_SANITIZE or _FUZZ)" OFF)
# A meshbroker for the gateway role only (issue 22, routers' flash): tinc, health checks and
# routes. The server's parts (OpenVPN and its driver, the PKI, CRL watch, usage and quotas, the
# nftables table, the status page's listener, the server's CLI verbs) are not compiled at all:
# backends_openvpn, supervisor_server and cli/server_run.cpp, main.cpp. A server's config is
# an error there ("built for the gateway role only").
option(MESHBROKER_GATEWAY_ONLY "Build meshbroker for the gateway role only (routers)" OFF)
# libstdc++ linked into the meshbroker executable: its dynamic symbol tables and relocations
# alone are ~1 MB of RSS in every process, against a budget of ~8 MB on a gateway router
# (DESIGN.md; bench/memory measures it). Safe because no shared library meshbroker loads is
# C++. Not with sanitizers: they must interpose operator new/delete, which a static
# libstdc++ would resolve inside the executable.
option(MESHBROKER_STATIC_LIBSTDCXX "Link libstdc++ and libgcc statically into meshbroker" ON)
# No shared library at all (not even libc): a router's libc is musl (OpenWrt), not glibc.
# scripts/cross builds this way. glibc's NSS (user and host names) cannot work statically;
# the gateway role needs none of it (docs/routers.md).
option(MESHBROKER_STATIC "Link every executable fully statically (scripts/cross)" OFF)
if(MESHBROKER_STATIC)
  if(MESHBROKER_SANITIZE OR MESHBROKER_TSAN OR MESHBROKER_FUZZ)
    message(FATAL_ERROR "MESHBROKER_STATIC cannot be combined with a sanitizer or the fuzzers")
  endif()
  set(OPENSSL_USE_STATIC_LIBS TRUE)
  set(Boost_USE_STATIC_LIBS ON)
  set(CMAKE_FIND_LIBRARY_SUFFIXES .a)  # pkg-config's -l names resolve to archives
  add_link_options(-static)
endif()
# Link-time optimisation of the meshbroker executable (scripts/cross: a router's flash). The
# objects carry both GIMPLE and machine code (-ffat-lto-objects), so the unit tests link them
# without LTO as before; only meshbroker's link optimises across them (cli/CMakeLists.txt).
option(MESHBROKER_LTO "Link meshbroker with -flto (objects are fat: tests link without)" OFF)
if(MESHBROKER_LTO)
  add_compile_options(-flto=auto -ffat-lto-objects)
endif()
if(MESHBROKER_TSAN AND (MESHBROKER_SANITIZE OR MESHBROKER_FUZZ))
  message(FATAL_ERROR "MESHBROKER_TSAN cannot be combined with ASan (MESHBROKER_SANITIZE, _FUZZ)")
endif()

# Sections nothing refers to are left out of every executable. The static libstdc++ (and a
# static build's libraries) are compiled one section per function, so this drops what of them
# meshbroker never calls: text 5.17 -> 4.63 MB (x86-64), gateway RSS 8400 -> 8132 kB
# (bench/memory). A link option only: the objects, and so the compiler cache, are unchanged.
add_link_options(LINKER:--gc-sections)

# The language and warnings alone: what meshbroker-notify (cli/) takes, which no sanitizer
# instruments (tincd waits for its hooks; an ASan binary takes 0.2-0.6 s to start).
add_library(meshbroker_warnings INTERFACE)
target_compile_features(meshbroker_warnings INTERFACE cxx_std_20)
target_compile_options(meshbroker_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                                     -Wnon-virtual-dtor -Wconversion
                                                     -Wno-sign-conversion)
add_library(meshbroker_options INTERFACE)
target_link_libraries(meshbroker_options INTERFACE meshbroker_warnings)
# 64-bit atomics are calls into libatomic on ABIs without such instructions (32-bit MIPS).
include(CheckCXXSourceCompiles)
check_cxx_source_compiles("#include <atomic>
#include <cstdint>
std::atomic<std::int64_t> v;
int main() { return static_cast<int>(v.fetch_or(1) + v.load()); }" MESHBROKER_ATOMICS_BUILTIN)
if(NOT MESHBROKER_ATOMICS_BUILTIN)
  # Last on every link line: static archives before it (libcrypto.a) need it too.
  string(APPEND CMAKE_CXX_STANDARD_LIBRARIES " -latomic")
endif()
if(MESHBROKER_SANITIZE OR MESHBROKER_FUZZ)
  target_compile_options(meshbroker_options INTERFACE -fsanitize=address,undefined
                                                      -fno-omit-frame-pointer
                                                      -fno-sanitize-recover=undefined)
  # Not position independent: an ASan meshbroker is 300 MB with 3.4 million relative
  # relocations, which the loader applied in 0.3 s at every start (every CLI call in a test).
  target_link_options(meshbroker_options INTERFACE -fsanitize=address,undefined -no-pie)
endif()
if(MESHBROKER_TSAN)
  target_compile_options(meshbroker_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(meshbroker_options INTERFACE -fsanitize=thread)
endif()
if(MESHBROKER_FUZZ)
  target_compile_options(meshbroker_options INTERFACE -fsanitize=fuzzer-no-link)
endif()

# meshbroker_library(NAME SOURCES...) makes meshbroker_NAME with the alias meshbroker::NAME.
function(meshbroker_library name)
  add_library(meshbroker_${name} STATIC ${ARGN})
  add_library(meshbroker::${name} ALIAS meshbroker_${name})
  target_include_directories(meshbroker_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(meshbroker_${name} PUBLIC meshbroker_options)
endfunction()
