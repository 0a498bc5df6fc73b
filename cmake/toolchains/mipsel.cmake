# 32-bit little-endian MIPS (OpenWrt's mipsel_24kc: MediaTek MT7621/MT7628 routers).
set(MESHBROKER_CROSS_TRIPLE mipsel-linux-gnu)
set(MESHBROKER_CROSS_PROCESSOR mipsel)
set(MESHBROKER_CROSS_QEMU /usr/bin/qemu-mipsel-static)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
