# 64-bit ARM (OpenWrt's aarch64_cortex-a53 and friends: Cudy TR3000, GL.iNet, ...).
set(MESHBROKER_CROSS_TRIPLE aarch64-linux-gnu)
set(MESHBROKER_CROSS_PROCESSOR aarch64)
set(MESHBROKER_CROSS_QEMU /usr/bin/qemu-aarch64-static)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
